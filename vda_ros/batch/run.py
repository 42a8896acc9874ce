"""vda-process-bag from start to end: check, plan, build the engine, stream the bag, report; exit statuses."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

from vda_ros.batch.pipeline import BagPipeline, color_range_and_depths
from vda_ros.batch.plan import check_separate, make_plan
from vda_ros.batch.report import Summary
from vda_ros.batch.settings import PROG, Options
from vda_ros.cli.video import build_model
from vda_ros.core.options import backend_cache_dir, resolve_precision
from vda_ros.errors import UsageError
from vda_ros.io.bags import BagError, BagWriter, check_output_free, open_bag, read_messages, staged_output
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.model import BackendError, OfflineDepth, check_backend_cache, select_device


def build_engine(options: Options) -> OfflineDepth:
    """The offline engine, its network built exactly as vda-video builds it (same checkpoint rules and errors)."""
    model = build_model(
        random_weights=options.random_weights,
        encoder=options.encoder or None,
        metric=options.metric,
        checkpoint=Path(options.checkpoint) if options.checkpoint else None,
    )
    try:
        device = select_device(options.device)
    except (RuntimeError, ValueError) as error:
        raise UsageError(str(error)) from error
    try:
        return OfflineDepth(
            model,
            input_size=options.input_size,
            device=device,
            precision=resolve_precision(options.precision, options.fp32),
            backend=options.backend,
            cache_dir=backend_cache_dir(options.backend_cache),
            log=lambda line: print(f"{PROG}: {line}", file=sys.stderr),
        )
    except BackendError as error:
        raise UsageError(f"backend {options.backend}: {error}") from error


def process(options: Options, engine: OfflineDepth | None = None) -> Summary:
    """Run the whole tool: check, plan, stream the bag through the engine, and publish the new bag.

    engine: a loaded engine to reuse (vda-process-bags' workers keep one for many bags); by default
    it is built from the options.
    """
    options.check()
    input_path, output_path = Path(options.input), Path(options.output)
    check_separate(input_path, output_path)
    check_output_free(output_path, options.overwrite)
    if engine is None:  # a given engine has its graphs already
        check_backend_cache(options.backend, backend_cache_dir(options.backend_cache))
    cleaned = remove_stale_temporaries(output_path.parent)
    if cleaned:
        print(f"{PROG}: {cleaned}", file=sys.stderr)
    with open_bag(input_path) as reader:
        plan = make_plan(reader, input_path, options)
        engine = build_engine(options) if engine is None else engine
        start = time.perf_counter()
        with (
            staged_output(output_path, options.overwrite) as bag_path,
            BagWriter(bag_path, plan.storage, options.bag_version) as writer,
        ):
            pipeline = BagPipeline(writer, plan, options, reader.connections)
            frames = pipeline.frames(read_messages(reader, pipeline.connections))
            # Started before the first window and unsmoothed: depth comes out in bursts of a window, so
            # only the average since the start gives an honest rate and time left.
            with tqdm(total=plan.frame_count, unit="frame", desc=plan.image_topic, smoothing=0) as progress:
                color_scale, depths = color_range_and_depths(engine.run(frames), options.color_range)
                for depth in depths:
                    pipeline.write(depth, color_scale)
                    progress.update()
            frames_written = writer.counts[plan.outputs.depth]
            if frames_written == 0:
                raise BagError(pipeline.alignment_warning() or f"{input_path} has no message on {plan.image_topic}")
    return Summary(
        frames=frames_written,
        seconds=time.perf_counter() - start,
        output=output_path,
        storage=plan.storage,
        version=options.bag_version,
        counts=writer.counts,
        warnings=pipeline.warnings + list(filter(None, [pipeline.alignment_warning()])),
        random_weights=options.random_weights,
    )
