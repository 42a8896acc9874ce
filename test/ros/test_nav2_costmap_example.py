"""config/nav2_costmap_example.yaml holds only parameters Nav2's costmap declares, with their types, on every Nav2
version recorded in test/fixtures/nav2_costmap_keys.json (read from navigation2's sources: Jazzy, Kilted, Rolling).

Nav2 is not installable here, so the keys were recorded once from its sources (the fixture's comment says how and
at which commits); a misspelt key would be declared by nobody and silently ignored by the costmap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "config" / "nav2_costmap_example.yaml"
KEYS = json.loads((REPO_ROOT / "test" / "fixtures" / "nav2_costmap_keys.json").read_text())
VERSIONS = sorted(KEYS["versions"])
PYTHON_TYPES = {"bool": bool, "integer": int, "double": float, "string": str, "string_array": list}
"""How a parameters file's value of each parameter type reads in YAML (rclcpp refuses an integer for a double)."""


def costmap_parameters() -> dict[str, Any]:
    with open(EXAMPLE) as stream:
        return yaml.safe_load(stream)["local_costmap"]["local_costmap"]["ros__parameters"]


def problems(parameters: dict[str, Any], accepted: dict[str, str | None], where: str) -> list[str]:
    """Keys of `parameters` (nested groups excluded) not declared, or of the wrong type."""
    found = []
    for key, value in parameters.items():
        if isinstance(value, dict):
            continue
        if key not in accepted:
            found.append(f"{where}{key}: not a parameter")
        elif accepted[key] is not None and type(value) is not PYTHON_TYPES[accepted[key]]:
            found.append(f"{where}{key}: {value!r} is not of type {accepted[key]}")
    return found


def check(parameters: dict[str, Any], keys: dict[str, Any]) -> list[str]:
    """Every problem of a costmap's parameters against one Nav2 version's declared keys."""
    layers = parameters["plugins"]
    node_keys = {**keys["costmap"], **{name: None for name in layers}}
    found = problems(parameters, node_keys, "")
    found += [
        f"{key}: a group that is no plugin"
        for key, v in parameters.items()
        if isinstance(v, dict) and key not in layers
    ]
    for name in layers:
        layer = parameters.get(name)
        if not isinstance(layer, dict):
            found.append(f"{name}: listed in plugins without its parameters")
            continue
        plugin = keys.get(layer.get("plugin"))
        if not isinstance(plugin, dict):
            found.append(f"{name}.plugin: {layer.get('plugin')!r} is not a recorded costmap plugin")
            continue
        sources = str(layer.get("observation_sources", "")).split()
        found += problems(layer, {**plugin["layer"], **{source: None for source in sources}}, f"{name}.")
        for key, value in layer.items():
            if isinstance(value, dict):
                if key not in sources:
                    found.append(f"{name}.{key}: a group that is not in observation_sources")
                else:
                    found += problems(value, plugin["observation_source"], f"{name}.{key}.")
        found += [f"{name}.{source}: no parameters" for source in sources if not isinstance(layer.get(source), dict)]
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_every_key_of_the_example_is_declared_by_nav2(version: str) -> None:
    assert check(costmap_parameters(), KEYS["versions"][version]["keys"]) == []


def test_the_example_observes_vda_ros_points_with_monocular_ranges() -> None:
    parameters = costmap_parameters()
    voxel = parameters["voxel_layer"]
    assert voxel["plugin"] == "nav2_costmap_2d::VoxelLayer" and voxel["observation_sources"] == "vda_points"
    source = voxel["vda_points"]
    assert source["data_type"] == "PointCloud2" and source["topic"].endswith("/points")
    assert source["marking"] and source["clearing"] and not source["inf_is_valid"]
    assert source["obstacle_max_range"] <= 3.0 < source["raytrace_max_range"], "clear beyond what is marked"
    assert source["min_obstacle_height"] < 0 < voxel["min_obstacle_height"], "the floor clears and never marks"
    assert parameters["width"] >= 2 * source["obstacle_max_range"]


def test_the_check_finds_a_misspelt_key_a_wrong_type_and_an_unknown_plugin() -> None:
    keys = KEYS["versions"][VERSIONS[0]]["keys"]
    parameters = costmap_parameters()
    parameters["voxel_layer"]["vda_points"]["obstacle_range"] = 3.0  # the ROS 1 name
    parameters["voxel_layer"]["z_voxels"] = 16.0
    parameters["inflation_layer"]["plugin"] = "nav2_costmap_2d::InflationLayr"
    parameters["update_frequncy"] = 5.0
    assert sorted(check(parameters, keys)) == [
        "inflation_layer.plugin: 'nav2_costmap_2d::InflationLayr' is not a recorded costmap plugin",
        "update_frequncy: not a parameter",
        "voxel_layer.vda_points.obstacle_range: not a parameter",
        "voxel_layer.z_voxels: 16.0 is not of type integer",
    ]


def test_the_recorded_keys_name_their_sources() -> None:
    assert {"jazzy", "main"} <= set(VERSIONS)
    for version in KEYS["versions"].values():
        assert len(version["commit"]) == 40 and version["nav2_costmap_2d_version"]
        assert {
            "nav2_costmap_2d::VoxelLayer",
            "nav2_costmap_2d::ObstacleLayer",
            "nav2_costmap_2d::InflationLayer",
        } < set(version["keys"])
