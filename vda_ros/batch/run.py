"""vda-process-bag from start to end: check, plan, build the engine, stream the bag, report; exit statuses."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

from vda_ros.batch.pipeline import BagPipeline, color_range_and_depths
from vda_ros.batch.plan import check_separate, make_plan
from vda_ros.batch.report import Summary
from vda_ros.batch.settings import PROG, BagSettings
from vda_ros.errors import UsageError
from vda_ros.io.bags import BagError, BagWriter, check_output_free, open_bag, read_messages, staged_output
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.model import OfflineDepth, factory


def build_engine(settings: BagSettings) -> OfflineDepth:
    """The offline engine of the model settings; the factory's errors (checkpoint, device, backend) reach the user."""
    if settings.model.random_weights:
        print(factory.RANDOM_WEIGHTS_BANNER, file=sys.stderr)
    return factory.build_engine(settings.model, "offline", log=lambda line: print(f"{PROG}: {line}", file=sys.stderr))


def check_paths(settings: BagSettings) -> None:
    """Refuse settings without both bags (a ROS parameter left out, an empty argument)."""
    missing = [name for name in ("input", "output") if not getattr(settings, name)]
    if missing:
        raise UsageError(f"missing {' and '.join(missing)}")


def process(settings: BagSettings, engine: OfflineDepth | None = None) -> Summary:
    """Run the whole tool: check, plan, stream the bag through the engine, and publish the new bag.

    engine: a loaded engine to reuse (vda-process-bags' workers keep one for many bags); by default
    it is built from the settings, which are checked against the backends before anything is touched.
    """
    check_paths(settings)
    if engine is None:  # a given engine was built, so checked, already
        factory.check_engine(settings.model, offline=True)
    input_path, output_path = Path(settings.input), Path(settings.output)
    check_separate(input_path, output_path)
    check_output_free(output_path, settings.overwrite)
    cleaned = remove_stale_temporaries(output_path.parent)
    if cleaned:
        print(f"{PROG}: {cleaned}", file=sys.stderr)
    with open_bag(input_path) as reader:
        plan = make_plan(reader, input_path, settings)
        engine = build_engine(settings) if engine is None else engine
        start = time.perf_counter()
        with (
            staged_output(output_path, settings.overwrite) as bag_path,
            BagWriter(bag_path, plan.storage, settings.bag_version) as writer,
        ):
            pipeline = BagPipeline(writer, plan, settings, reader.connections)
            frames = pipeline.frames(read_messages(reader, pipeline.connections))
            # Started before the first window and unsmoothed: depth comes out in bursts of a window, so
            # only the average since the start gives an honest rate and time left.
            with tqdm(total=plan.frame_count, unit="frame", desc=plan.image_topic, smoothing=0) as progress:
                color_scale, depths = color_range_and_depths(engine.run(frames), settings.outputs)
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
        version=settings.bag_version,
        counts=writer.counts,
        warnings=pipeline.warnings + list(filter(None, [pipeline.alignment_warning()])),
        random_weights=settings.model.random_weights,
    )
