"""Through `retrain model register`, `retrain model datasets` and `retrain init`: every refusal is one sentence on
stderr with its exit code, and nothing is recorded."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from adapters.torch.models import build_model, state_dict_bytes
from tests.e2e.cli import CLASSES, run
from tests.e2e.team_world import png, write_team_package

TEN = CLASSES.split(",")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("world")
    package = write_team_package(root / "team")
    (package / "teamvision" / "oddities.py").write_text("def not_a_model(num_classes=10):\n    return [num_classes]\n")
    rng = np.random.default_rng(0)
    folder = root / "folder"
    for label in TEN:
        (folder / label).mkdir(parents=True)
        for index in range(3):
            (folder / label / f"{index}.png").write_bytes(png(rng.integers(0, 256, (28, 28), dtype=np.uint8)))
    files = {"package": package, "folder": folder}
    files["small"] = root / "small.pt"
    files["small"].write_bytes(state_dict_bytes(build_model("small-cnn", 10)))
    files["pickled"] = root / "pickled.pt"
    torch.save(build_model("small-cnn", 10), files["pickled"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # TorchScript is deprecated: teams still have such files
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(build_model("small-cnn", 10)), buffer)
    files["scripted"] = root / "scripted.pt"
    files["scripted"].write_bytes(buffer.getvalue())
    return files


def register(home: Path, *args: str) -> tuple[int, str]:
    done = run(home, "model", "register", *args)
    return done.returncode, done.stderr


def nothing_recorded(home: Path) -> bool:
    if not home.exists():
        return True
    listed = run(home, "models", "--json")
    return listed.returncode == 0 and json.loads(listed.stdout) == []


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("case", "code", "message"), [
    (["--weights", "{small}", "--arch", "no_such_pkg.nets:build", "--input-spec", '{"size": [28, 28]}'], 2,
     "cannot import no_such_pkg.nets: No module named 'no_such_pkg'"),
    (["--weights", "{small}", "--arch", "teamvision.nets:nothing", "--arch-path", "{package}",
      "--input-spec", '{"size": [28, 28]}'], 2, "teamvision.nets has no callable 'nothing'"),
    (["--weights", "{small}", "--arch", "teamvision.oddities:not_a_model", "--arch-path", "{package}",
      "--input-spec", '{"size": [28, 28]}'], 2,
     "teamvision.oddities:not_a_model returned a list, not a torch nn.Module"),
    (["--weights", "{small}", "--arch", "teamvision.nets:build", "--arch-path", "{package}",
      "--input-spec", '{"size": [28, 28]}'], 2, "the weights do not match the architecture"),
    (["--weights", "{small}", "--arch", "small-cnn", "--arch-kwargs", "[1]"], 2,
     "--arch-kwargs and --arch-path apply to an architecture given as package.module:callable"),
    (["--weights", "{small}", "--arch", "teamvision.nets:build", "--arch-kwargs", "[1]"], 2,
     "--arch-kwargs must be a JSON object"),
    (["--weights", "{scripted}", "--arch", "small-cnn", "--input-spec", '{"size": [28, 28]}'], 2,
     "the file is a TorchScript archive, not a state dict: save the weights with torch.save(model.state_dict(), path)"),
    (["--weights", "{pickled}", "--arch", "small-cnn", "--input-spec", '{"size": [28, 28]}'], 2,
     "torch.save(model.state_dict(), path)"),
    (["--weights", "{small}", "--arch", "small-cnn"], 2, "cannot tell the input size of small-cnn"),
    (["--weights", "{small}", "--arch", "small-cnn", "--input-spec", '{"mode": "RGB", "size": [28, 28]}'], 2,
     "--input-spec says mode RGB (3 channels) but the model's first layer takes 1"),
    (["--weights", "{small}", "--arch", "small-cnn", "--classes", "0,1,2", "--input-spec", '{"size": [28, 28]}'], 2,
     "the weights do not match the architecture"),
    (["--weights", "{small}", "--arch", "small-cnn", "--classes", "a,b,c,d,e,f,g,h,i,j", "--train", "{folder}"], 2,
     "the class names do not match the folders of"),
])
def test_a_registration_that_does_not_fit_is_refused_in_one_sentence_and_records_nothing(
        tmp_path: Path, world: dict[str, Path], case: list[str], code: int, message: str) -> None:
    args = [str(world[arg[1:-1]]) if arg[1:-1] in world else arg for arg in case]
    if "--classes" not in args:
        args += ["--classes", CLASSES]
    home = tmp_path / "home"
    returncode, stderr = register(home, *args)
    assert returncode == code, stderr
    assert message in one_sentence(stderr)
    assert nothing_recorded(home)


def test_class_names_that_differ_from_the_folders_name_both_lists(tmp_path: Path, world: dict[str, Path]) -> None:
    _, stderr = register(tmp_path / "home", "--weights", str(world["small"]), "--arch", "small-cnn", "--classes",
                         "a,b,c,d,e,f,g,h,i,j", "--train", str(world["folder"]))
    assert "classes a, b, c, d, e, f, g, h, i, j; folders 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in stderr


def test_the_same_weights_twice_are_refused_naming_the_version_unless_insisted(tmp_path: Path,
                                                                               world: dict[str, Path]) -> None:
    home = tmp_path / "home"
    args = ["--weights", str(world["small"]), "--arch", "small-cnn", "--classes", CLASSES, "--input-spec",
            '{"size": [28, 28]}']
    assert register(home, *args)[0] == 0
    returncode, stderr = register(home, *args)
    assert returncode == 1
    assert one_sentence(stderr).startswith("retrain: these weights are already registered as v1 (sha256 ")
    assert [v["label"] for v in json.loads(run(home, "models", "--json").stdout)] == ["v1"]
    assert register(home, *args, "--allow-duplicate")[0] == 0


def test_a_model_below_chance_on_its_test_set_is_not_made_production_without_force(tmp_path: Path,
                                                                                    world: dict[str, Path]) -> None:
    """Random weights on a test set of noise: about 10 % for 10 classes, below 1.5 x chance."""
    home = tmp_path / "home"
    args = ["--weights", str(world["small"]), "--arch", "small-cnn", "--classes", CLASSES, "--test",
            str(world["folder"])]
    returncode, stderr = register(home, *args, "--production")
    assert returncode == 1
    assert "not made production: test accuracy" in one_sentence(stderr) and "pass --force" in stderr
    assert nothing_recorded(home)

    kept = run(home, "model", "register", *args)
    assert kept.returncode == 0 and "warning: test accuracy" in kept.stderr and "registered." in kept.stdout
    forced = run(home, "model", "register", *args, "--production", "--force", "--allow-duplicate")
    assert forced.returncode == 0, forced.stderr
    assert "in production" in forced.stdout


def test_attaching_datasets_to_an_unknown_version_is_not_found(tmp_path: Path, world: dict[str, Path]) -> None:
    home = tmp_path / "home"
    assert register(home, "--weights", str(world["small"]), "--arch", "small-cnn", "--classes", CLASSES,
                    "--input-spec", '{"size": [28, 28]}')[0] == 0
    missing = run(home, "model", "datasets", "v9", "--test", str(world["folder"]))
    assert missing.returncode == 3 and "v9" in one_sentence(missing.stderr)
    empty = run(home, "model", "datasets", "v1")
    assert empty.returncode == 2 and "give at least one of --train, --val and --test" in empty.stderr


def test_manifests_name_their_line_and_their_unknown_labels(tmp_path: Path, world: dict[str, Path]) -> None:
    home = tmp_path / "home"
    base = ["--weights", str(world["small"]), "--arch", "small-cnn", "--classes", CLASSES]
    image = next((world["folder"] / "3").iterdir())
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"path,label\n{image},3\n{image},cat\n")
    returncode, stderr = register(home, *base, "--test", str(unknown))
    assert returncode == 2 and "unknown.csv has labels that are not the model's classes: cat" in one_sentence(stderr)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"path": "nowhere.png", "label": "3"}) + "\n")
    returncode, stderr = register(home, *base, "--test", str(missing))
    assert returncode == 2 and "missing.jsonl line 1: nowhere.png is not a file" in one_sentence(stderr)
    assert nothing_recorded(home)


def test_a_first_model_below_chance_is_not_made_production_without_force(tmp_path: Path,
                                                                         world: dict[str, Path]) -> None:
    home = tmp_path / "home"
    refused = run(home, "init", "--dataset", str(world["folder"]), "--epochs", "1")
    assert refused.returncode == 1
    assert "v1 was not made production: its test accuracy" in one_sentence(refused.stderr)
    assert nothing_recorded(home)
    forced = run(home, "init", "--dataset", str(world["folder"]), "--epochs", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "v1 is in production" in forced.stdout
