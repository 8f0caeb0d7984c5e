"""No user file is lost: commands that replace results check everything first and swap new results in at the end.

Each test snapshots the user's files (bytes), makes the command fail in one way, and
compares the bytes afterwards.
"""

from __future__ import annotations

import shutil

import pytest

from isicseg import ISIC2017Dataset, load_model
from isicseg.cli import main
from isicseg.evaluation import evaluate
from isicseg.exceptions import ConfigError
from isicseg.outputs import STAGING_PREFIX, staged_output

from ..conftest import MINI_ROOT
from ..helpers import snapshot

pytestmark = pytest.mark.integration

IMAGES = MINI_ROOT / "ISIC-2017_Validation_Data"


@pytest.fixture()
def earlier(weights, tmp_path):
    """An output folder holding the results of an earlier predict and an evaluate, plus a user's note."""
    out = tmp_path / "out"
    assert main(["predict", str(weights), str(IMAGES), "--out", str(out / "pr")]) == 0
    assert (
        main(["evaluate", str(weights), "--data", str(MINI_ROOT), "--split", "validation", "--out", str(out / "ev")])
        == 0
    )
    (out / "pr" / "notes.txt").write_text("mine")
    return out


def test_overwrite_with_weights_that_cannot_be_loaded_keeps_the_earlier_results(earlier, tmp_path, capsys):
    before = snapshot(earlier)
    bad = tmp_path / "bad.pt"
    bad.write_text("<html>login</html>")
    assert main(["predict", str(bad), str(IMAGES), "--out", str(earlier / "pr"), "--overwrite"]) == 2
    assert (
        main(
            [
                "evaluate",
                str(bad),
                "--data",
                str(MINI_ROOT),
                "--split",
                "validation",
                "--out",
                str(earlier / "ev"),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "bad.pt could not be loaded" in capsys.readouterr().err
    assert snapshot(earlier) == before


def test_an_unreadable_image_mid_run_keeps_the_earlier_results_and_leaves_no_partial_files(
    earlier, weights, tmp_path, capsys
):
    before = snapshot(earlier)
    inputs = tmp_path / "inputs"
    shutil.copytree(IMAGES, inputs)
    (inputs / "ISIC_9999999.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # sorts last: read after the others
    assert (
        main(["predict", str(weights), str(inputs), "--out", str(earlier / "pr"), "--overwrite", "--batch-size", "1"])
        == 2
    )
    err = capsys.readouterr().err
    assert "ISIC_9999999.jpg is not a readable image file" in err and "Traceback" not in err
    assert snapshot(earlier) == before  # no staging folder left either


def test_an_interrupted_evaluation_keeps_the_earlier_results(earlier, weights, monkeypatch):
    import isicseg.evaluation.pipeline as pipeline

    before = snapshot(earlier)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_figures", interrupted)  # the last file written
    dataset = ISIC2017Dataset(MINI_ROOT, "validation", label_scheme="three_class", image_size=64)
    with pytest.raises(KeyboardInterrupt):
        evaluate(load_model(weights), dataset, out_dir=earlier / "ev", overwrite=True)
    assert snapshot(earlier) == before


def test_inputs_inside_a_folder_the_command_replaces_are_refused(earlier, weights, capsys):
    masks = earlier / "pr" / "masks"
    shutil.copy(IMAGES / "ISIC_0014568.jpg", masks / "photo.jpg")
    before = snapshot(earlier)
    assert main(["predict", str(weights), str(masks / "photo.jpg"), "--out", str(earlier / "pr"), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"predict: output {masks} holds the input {masks / 'photo.jpg'}; predict would replace it." in err
    root = earlier / "pr" / "masks" / "data"
    shutil.copytree(MINI_ROOT, root)
    before = snapshot(earlier)
    assert (
        main(
            [
                "evaluate",
                str(weights),
                "--data",
                str(root),
                "--split",
                "validation",
                "--out",
                str(earlier / "pr"),
                "--overwrite",
            ]
        )
        == 2
    )
    assert f"evaluate: output {earlier / 'pr' / 'masks'} holds the input " in capsys.readouterr().err
    assert snapshot(earlier) == before


def test_overwrite_replaces_only_what_the_command_writes(earlier, weights):
    old_masks = snapshot(earlier / "pr" / "masks")
    one = IMAGES / "ISIC_0014568.jpg"
    assert main(["predict", str(weights), str(one), "--out", str(earlier / "pr"), "--overwrite"]) == 0
    assert sorted(snapshot(earlier / "pr" / "masks")) == ["ISIC_0014568_segmentation.png"] != sorted(old_masks)
    assert (earlier / "pr" / "notes.txt").read_text() == "mine"
    assert not [p for p in (earlier / "pr").iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_synth_with_bad_flags_changes_nothing(tmp_path, capsys):
    root = tmp_path / "data"
    assert (
        main(
            ["synth", str(root), "--train", "2", "--validation", "0", "--test", "0", "--height", "32", "--width", "32"]
        )
        == 0
    )
    before = snapshot(root)
    assert main(["synth", str(root), "--train", "2", "--height", "32", "--width", "999999", "--overwrite"]) == 2
    assert "image_size must be (height, width), each an int in 16..4096; got (32, 999999)" in capsys.readouterr().err
    assert snapshot(root) == before


def test_staging_rolls_back_when_the_swap_fails_half_way(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "b.txt").write_text("old b")
    before = snapshot(out)
    real_rename, failed = type(out).rename, []

    def rename(self, target):
        if self.name == "b.txt" and STAGING_PREFIX in str(self) and not failed:  # the second new entry cannot be placed
            failed.append(self)
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(type(out), "rename", rename)
    with pytest.raises(OSError), staged_output(out, ["a.txt", "b.txt"], overwrite=True, command="test") as staging:
        (staging / "a.txt").write_text("new a")
        (staging / "b.txt").write_text("new b")
    assert failed and snapshot(out) == before


def test_output_folder_that_is_a_file_or_unlistable_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("mine")
    with (
        pytest.raises(ConfigError, match=r"--out .*file is a file; test writes a folder there"),
        staged_output(target, ["a"], overwrite=True, command="test"),
    ):
        pass
    assert target.read_text() == "mine"


def test_a_full_disk_while_writing_masks_is_one_line_and_keeps_the_earlier_results(
    earlier, weights, monkeypatch, capsys
):
    import errno

    import isicseg.evaluation.submission as submission

    before = snapshot(earlier)
    written = []

    def full_disk(mask, path):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)

    monkeypatch.setattr(submission, "write_mask_png", full_disk)
    monkeypatch.setattr("isicseg.evaluation.write_mask_png", full_disk)
    assert main(["predict", str(weights), str(IMAGES), "--out", str(earlier / "pr"), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("isicseg predict: error: No space left on device: ") and "_segmentation.png." in err
    assert f"Earlier results in {earlier / 'pr'} are as they were" in err and err.count("\n") == 1
    assert snapshot(earlier) == before


def test_an_image_of_impossible_aspect_is_refused_naming_the_file(weights, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (20000, 2)).save(folder / "strip.png")
    assert main(["predict", str(weights), str(folder), "--out", str(tmp_path / "out"), "--image-size", "64"]) == 2
    err = capsys.readouterr().err
    assert f"Image {folder / 'strip.png'}: image_size 64 would make a 20000x2 (width x height) image 640000x64" in err
    assert not (tmp_path / "out").exists()  # made for the command, which failed: gone
