#!/usr/bin/env bash
# The main job: what ./scripts/setup.sh shows after installing.
#
# The live ROS 2 pipeline on the official sample clip, without `ros2 launch`: video_source
# publishes the clip as a camera (image + camera_info), depth_node (vits) publishes depth, and
# the colourised depth it publishes is recorded to outputs/davis_rollercoaster_live_depth.mp4.
# Uses the official checkpoint when it is present or can be downloaded; otherwise runs the same
# pipeline with random weights as a smoke test, and says so plainly.
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

# The official input size (518) on a GPU; 252 on a CPU so that the demo takes about a minute.
input_size() {
    if "$BIN/python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
        echo 518
    else
        echo 252
    fi
}

run_live_demo() {
    "$BIN/vda-demo" "$SAMPLE_VIDEO" --encoder "$ENCODER" --frames 24 --input-size "$(input_size)" \
        --output "$OUTPUT_DIR/davis_rollercoaster_live_depth.mp4" "${WEIGHT_ARGS[@]}"
}

main() {
    choose_weights
    run_live_demo
}

main "$@"
