#!/usr/bin/env bash
# The distribution legs of CI, each in its own venv made by scripts/install.sh --variant:
#
#   humble  Python 3.10, NumPy 1.21, OpenCV 4.5 (Ubuntu 22.04): the tests that need neither rclpy nor PyTorch
#   jazzy   rclpy 7.1.6 / Fast DDS 2.14, NumPy 1.26, OpenCV 4.6 (Ubuntu 24.04): the ROS tests
#   colcon  a colcon workspace (in .venv-jazzy): colcon build --symlink-install, then colcon test
#           running real tests against the workspace install (vda-video from lib/vda_ros)
#
#   scripts/test_distros.sh [LEG...]    default: all three; exits non-zero if any leg fails
#
# Every leg runs even when an earlier one failed; a summary at the end names the failures. A pytest
# run that collects no tests (exit 5) counts as a failure: each leg exists to run its tests.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The launch files' other tests run them against their nodes' settings, which import rclpy: the colcon leg has them.
HUMBLE_TESTS=(test/ros/test_ros_conversions.py test/core/test_colormap.py test/core/test_geometry.py test/io/test_media.py
              "test/ros/test_launch_files.py::test_fastdds_profile_is_set_before_any_node_starts"
              test/cli/test_packaging.py)
# The start-up error tests exercise no middleware and take 10 s: the main suite has them. The graph cache test
# needs the onnxruntime backend, which this leg does not install (requirements/jazzy.txt).
JAZZY_TESTS=(test/ros/test_ros_conversions.py test/nodes/test_depth_node.py test/nodes/test_video_source.py
             "test/batch/test_process_bag.py::test_compressed_sqlite3_bag_without_camera_info_replaces_output"
             -k "not start_up_errors and not graph_cache_that_fills_up")
COLCON_TESTS=(test/core/test_geometry.py test/ros/test_launch_files.py test/cli/test_packaging.py
              "test/batch/test_cli.py::test_console_script_reports_missing_checkpoint_without_traceback")

# Explains pytest's exit status 5 and passes every other status through.
pytest_status() {
    local status=$1
    if ((status == 5)); then
        echo "test_distros.sh: pytest collected no tests" >&2
    fi
    return "$status"
}

leg_humble() {
    scripts/test.sh --variant humble -p no:cacheprovider "${HUMBLE_TESTS[@]}" || pytest_status $?
}

leg_jazzy() {
    scripts/test.sh --variant jazzy -p no:cacheprovider "${JAZZY_TESTS[@]}" || pytest_status $?
}

# colcon build and test of this checkout in a throw-away workspace, as a ROS user would.
leg_colcon() {
    scripts/install.sh --if-needed --variant jazzy || return
    local workspace status
    workspace=$(mktemp -d -t vda_colcon_ws.XXXXXX)
    mkdir "$workspace/src" && ln -s "$PWD" "$workspace/src/vda_ros"
    (
        set -e
        repo=$PWD
        cd "$workspace"
        set +u  # the activate and setup scripts read unset variables
        source "$repo/.venv-jazzy/bin/activate"
        # The ROS wheels' share/ (ament index) is the venv itself; the "no local_setup" warning is expected.
        export AMENT_PREFIX_PATH=$VIRTUAL_ENV
        colcon build --symlink-install --packages-select vda_ros --event-handlers console_cohesion+
        source install/setup.bash
        colcon test --packages-select vda_ros --return-code-on-test-failure --event-handlers console_cohesion+ \
            --pytest-args -p no:cacheprovider "${COLCON_TESTS[@]}"
        # "Summary: N tests, E errors, F failures, S skipped": colcon falling back to unittest would find none.
        summary=$(colcon test-result --all | tail -n 1)
        echo "colcon test-result: $summary"
        [[ $summary =~ ^Summary:\ ([0-9]+)\ tests,\ 0\ errors,\ 0\ failures ]] && ((BASH_REMATCH[1] > 0)) || {
            echo "test_distros.sh: colcon test ran no tests or some failed" >&2
            exit 1
        }
    )
    status=$?
    rm -rf "$workspace"
    return "$status"
}

main() {
    local legs=("$@") failed=() leg
    ((${#legs[@]})) || legs=(humble jazzy colcon)
    for leg in "${legs[@]}"; do
        echo "==> leg $leg"
        if ! "leg_$leg"; then
            failed+=("$leg")
        fi
    done
    if ((${#failed[@]})); then
        echo "test_distros.sh: FAILED legs: ${failed[*]}" >&2
        return 1
    fi
    echo "test_distros.sh: all legs passed: ${legs[*]}"
}

main "$@"
