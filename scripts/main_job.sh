#!/usr/bin/env bash
# The main job: what ./scripts/setup.sh shows after installing.
#
# Now: a depth video of the official sample clip with the small (vits) model, written to
# outputs/. Uses the official checkpoint when it is present or can be downloaded; otherwise
# runs the same pipeline with random weights as a smoke test, and says so plainly.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
ENCODER=vits
SAMPLE_VIDEO=assets/davis_rollercoaster.mp4
OUTPUT_DIR=outputs

# Sets WEIGHT_ARGS: nothing when the official checkpoint is usable, else --random-weights.
choose_weights() {
    WEIGHT_ARGS=()
    # vda-download-weights checks a present file's sha256 and downloads a missing one.
    if "$BIN/vda-download-weights" --encoder "$ENCODER"; then
        return
    fi
    cat <<MESSAGE

==> No official Video Depth Anything weights ($ENCODER) are present in ${VDA_CHECKPOINT_DIR:-checkpoints}/
==> and they could not be downloaded (see the error above; is huggingface.co reachable?).
==> Running a SMOKE TEST with RANDOM WEIGHTS instead: the depth video it writes is meaningless.
==> For real depth: $BIN/vda-download-weights --encoder $ENCODER, or copy the file there by hand.

MESSAGE
    WEIGHT_ARGS=(--random-weights)
}

run_video_demo() {
    "$BIN/vda-video" "$SAMPLE_VIDEO" --output-dir "$OUTPUT_DIR" --encoder "$ENCODER" --max-len 24 \
        "${WEIGHT_ARGS[@]}"
}

main() {
    choose_weights
    run_video_demo
}

main "$@"
