"""No silent wrong output: folders with old results, colliding names, bad batch sizes, mismatched weights."""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

from isicseg import ISIC2017Dataset, load_model
from isicseg.cli import main
from isicseg.evaluation import evaluate
from isicseg.exceptions import ConfigError, DatasetError, WeightsError

from ..conftest import MINI_ROOT

pytestmark = pytest.mark.integration

IMAGES = MINI_ROOT / "ISIC-2017_Training_Data"


def test_predict_refuses_a_folder_with_old_results_and_overwrite_replaces_them(weights, tmp_path, capsys):
    out = tmp_path / "pr"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "ISIC_9999999_segmentation.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    assert main(["predict", str(weights), str(IMAGES), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"Output folder {out} is not empty (holds masks, notes.txt)" in err and "Pass --overwrite" in err
    assert (out / "masks" / "ISIC_9999999_segmentation.png").is_file()  # nothing touched
    assert main(["predict", str(weights), str(IMAGES), "--out", str(out), "--overwrite"]) == 0
    ids = list(pd.read_csv(out / "predictions.csv", dtype={"image_id": str})["image_id"])
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{i}_segmentation.png" for i in ids]  # old mask gone
    assert (out / "notes.txt").read_text() == "mine"  # not predict's: left alone


def test_evaluate_refuses_a_non_empty_folder(weights, tmp_path, capsys):
    out = tmp_path / "ev"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    args = ["evaluate", str(weights), "--data", str(MINI_ROOT), "--split", "validation", "--out", str(out)]
    assert main(args) == 2
    assert "evaluate would mix its results" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "summary.json").read_text() != "{}"


def test_library_evaluate_replaces_the_masks_of_an_earlier_run_only_with_overwrite(weights, tmp_path):
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "ISIC_9999999_segmentation.png").write_bytes(b"old")
    dataset = ISIC2017Dataset(MINI_ROOT, "validation", label_scheme="three_class", image_size=64)
    with pytest.raises(ConfigError, match=r"is not empty \(holds masks\); evaluate would mix its results"):
        evaluate(load_model(weights), dataset, out_dir=tmp_path, figures=False)
    assert (tmp_path / "masks" / "ISIC_9999999_segmentation.png").read_bytes() == b"old"
    evaluate(load_model(weights), dataset, out_dir=tmp_path, figures=False, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == [
        f"{i}_segmentation.png" for i in dataset.image_ids
    ]


def test_predict_refuses_inputs_sharing_a_name(weights, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(IMAGES / "ISIC_0000062.jpg", tmp_path / folder / "lesion.jpg")
    assert (
        main(["predict", str(weights), str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 2
    )
    err = capsys.readouterr().err
    assert "1 image names are used by more than one input file, e.g. 'lesion'" in err
    assert str(tmp_path / "a" / "lesion.jpg") in err and str(tmp_path / "b" / "lesion.jpg") in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "InferenceConfig.batch_size must be an int >= 1; got -1."),
        ("0", "InferenceConfig.batch_size must be an int >= 1; got 0."),
    ],
)
def test_batch_size_must_be_positive(weights, tmp_path, capsys, value, message):
    out = tmp_path / "o"
    assert main(["predict", str(weights), str(IMAGES), "--batch-size", value, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()  # refused before anything is read or written
    with pytest.raises(SystemExit) as info:
        main(["predict", str(weights), str(IMAGES), "--batch-size", "two", "--out", str(out)])
    assert info.value.code == 2 and "argument --batch-size: expected a number, got 'two'" in capsys.readouterr().err


def test_loading_a_trained_model_with_another_class_count_is_refused(weights):
    with pytest.raises(
        WeightsError, match=r"for a model with 4 classes \(background included\), but num_classes=3 was asked for"
    ):
        load_model(weights, num_classes=3)


def test_two_files_for_one_image_id_are_a_problem(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(MINI_ROOT, root)
    image = next((root / "ISIC-2017_Validation_Data").glob("*.jpg"))
    shutil.copy(image, image.with_suffix(".JPG"))
    with (
        warnings.catch_warnings(record=True) as caught,
        pytest.raises(
            DatasetError,
            match=rf"Image {image.stem} has 2 files in .*: {image.stem}.JPG, {image.name}; which one is meant is unclear",
        ),
    ):
        warnings.simplefilter("always")
        ISIC2017Dataset(root, "validation")
    assert not [w for w in caught if "rows for images that are not in" in str(w.message)]


def test_synth_refuses_nothing_to_write_and_a_used_root(tmp_path, capsys):
    root = tmp_path / "synthetic"
    assert main(["synth", str(root), "--train", "0", "--validation", "0", "--test", "0"]) == 2
    assert "at least one of them > 0" in capsys.readouterr().err and not root.exists()
    assert (
        main(
            ["synth", str(root), "--train", "3", "--validation", "0", "--test", "0", "--height", "32", "--width", "32"]
        )
        == 0
    )
    assert (
        main(
            ["synth", str(root), "--train", "2", "--validation", "0", "--test", "0", "--height", "32", "--width", "32"]
        )
        == 2
    )
    assert "synth would mix its results" in capsys.readouterr().err
    assert (
        main(
            [
                "synth",
                str(root),
                "--train",
                "2",
                "--validation",
                "0",
                "--test",
                "0",
                "--height",
                "32",
                "--width",
                "32",
                "--overwrite",
            ]
        )
        == 0
    )
    assert len(ISIC2017Dataset(root, "train")) == 2  # the third image of the first run is gone


def test_out_that_is_a_file_is_refused(weights, tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("mine")
    assert main(["predict", str(weights), str(IMAGES), "--out", str(out), "--overwrite"]) == 2
    assert f"--out {out} is a file; predict writes a folder there." in capsys.readouterr().err
    assert out.read_text() == "mine"
