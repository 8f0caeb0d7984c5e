"""The run configuration: typed sections, one JSON form, flags generated from the fields."""

from __future__ import annotations

import dataclasses
import json

import pytest

from isicseg import TrainerConfig
from isicseg.cli import build_parser, main
from isicseg.config import (
    RECIPES,
    SECTIONS,
    DataConfig,
    EvalConfig,
    ModelConfig,
    RunConfig,
    list_recipes,
    resolve_recipe,
)
from isicseg.exceptions import ConfigError

# a value unlike the default for every field of every section
CHANGED = {
    "root": "elsewhere",
    "extra_roots": ("more",),
    "extra_train_classifier": False,
    "image_size": 320,
    "label_scheme": "three_class",
    "subset": 10,
    "val_split": "test",
    "eval_split": "validation",
    "augment": "eval",
    "backbone": "resnet18_fpn",
    "pretrained": "none",
    "backbone_weights": "imagenet",
    "classifier": "pooled",
    "proposals": "few",
    "rois_per_image": 32,
    "mask_resolution": 56,
    "epochs": 5,
    "batch_size": 3,
    "optimizer": "adamw",
    "lr": 0.001,
    "momentum": 0.8,
    "weight_decay": 0.01,
    "warmup_steps": 7,
    "warmup_factor": 0.5,
    "schedule": "cosine",
    "milestones": (0.5,),
    "gamma": 0.5,
    "grad_clip_norm": 1.0,
    "accumulate": 2,
    "precision": "fp32",
    "channels_last": True,
    "group_by_aspect_ratio": False,
    "balanced_sampling": True,
    "source_shares": (0.25, 0.75),
    "epoch_items": 50,
    "num_workers": 1,
    "num_threads": 1,
    "device": "cpu",
    "seed": 9,
    "validate_every": 2,
    "skip_nonfinite": True,
    "out_dir": "runs/x",
    "eval_batch_size": 2,
    "monitor": "val_loss",
    "patience": 3,
    "tta": True,
    "postprocess": True,
    "answer_rule": "central",
    "mask_threshold": 0.4,
}


def test_every_field_is_covered_here():
    assert set(CHANGED) == {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)}


def test_round_trip_and_every_field_counts_in_equality(tmp_path):
    base = RunConfig(name="r")
    base.save(tmp_path / "config.json")
    assert RunConfig.from_file(tmp_path / "config.json") == base
    for name, value in CHANGED.items():
        needs = {"source_shares": (0.5, 0.5)} if name == "epoch_items" else {}  # epoch_items divides the shares
        changed = base.replace(**{name: value}, **needs)
        assert changed != base, name
        changed.save(tmp_path / "c.json")
        assert RunConfig.from_file(tmp_path / "c.json") == changed, name


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"trainer": {"lr": "0.01"}}, r"TrainerConfig.lr must be a finite number or None; got '0.01'. \(.*bad.json\)"),
        ({"model": {"backbone": 3}}, r"ModelConfig.backbone must be a string; got 3"),
        ({"data": {"image_size": 64.0}}, r"DataConfig.image_size must be an int; got 64.0"),
        ({"data": {"image_size": True}}, r"DataConfig.image_size must be an int; got True"),
        ({"data": {"image_size": 100000}}, r"DataConfig.image_size must lie in 16..4096 pixels; got 100000"),
        (
            {"data": {"val_split": "valid"}},
            r"DataConfig.val_split must be 'train', 'validation', 'test' or None; got 'valid'",
        ),
        ({"model": {"proposals": "fwe"}}, r"ModelConfig.proposals must be one of 'default', 'few'; got 'fwe'"),
        ({"eval": {"patience": 0}}, r"EvalConfig.patience must be an int >= 1 or None; got 0"),
        (
            {"model": {"rois_per_image": 2}},
            r"ModelConfig.rois_per_image must be an int >= 4 \(a quarter are positives\) or None; got 2",
        ),
        ({"data": {"subset": 1.5}}, r"DataConfig.subset must be a count >= 1 or a fraction in \(0, 1\]; got 1.5"),
        ({"data": {"subset": 0}}, r"DataConfig.subset must be a count >= 1 or a fraction in \(0, 1\]; got 0"),
        ({"trainer": {"epochz": 3}}, r"Unknown TrainerConfig field 'epochz' in .*bad.json. Did you mean 'epochs'\?"),
        ({"modle": {}}, r"Unknown RunConfig field 'modle' in .*bad.json. Did you mean 'model'\?"),
        ({"trainer": [1]}, r"TrainerConfig in .*bad.json must be a JSON object of its fields; got list"),
        ({"extra": {"epochz": 3}}, r"Unknown run setting 'epochz' in .*bad.json"),
    ],
)
def test_file_errors_name_file_and_field(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_file(path)


def test_file_not_json_or_missing(tmp_path):
    (tmp_path / "a.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"Could not read Run config .*a.json: .*expected a JSON object"):
        RunConfig.from_file(tmp_path / "a.json")
    (tmp_path / "b.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"Run config .*b.json holds a JSON list; expected a JSON object"):
        RunConfig.from_file(tmp_path / "b.json")
    with pytest.raises(
        ConfigError, match=r"Config file .*c.json does not exist and is no recipe name; recipes: .*isic2017_cpu"
    ):
        resolve_recipe(tmp_path / "c.json")


def test_legacy_config_json_reads_into_sections(tmp_path):
    legacy = {
        "epochs": 2,
        "seed": 3,
        "extra": {"data": "d", "backbone": "resnet18_fpn", "subset": 4, "name": "old", "tta": True},
    }
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    config = RunConfig.from_file(tmp_path / "config.json")
    assert config == RunConfig(
        name="old",
        data=DataConfig(root="d", subset=4),
        model=ModelConfig(backbone="resnet18_fpn"),
        trainer=TrainerConfig(epochs=2, seed=3),
        eval=EvalConfig(tta=True),
    )


def test_a_section_of_the_wrong_type_is_refused():
    with pytest.raises(ConfigError, match=r"RunConfig.data must be a DataConfig; got \{'root': 'x'\}"):
        RunConfig(data={"root": "x"})


def test_replace_refuses_unknown_names():
    with pytest.raises(ConfigError, match=r"Unknown run setting 'epoch'; allowed: name, .*epochs"):
        RunConfig().replace(epoch=2)


@pytest.mark.parametrize("name", list_recipes())
def test_every_recipe_loads(name):
    config = RunConfig.from_file(RECIPES / f"{name}.json")
    assert config.data.root is None  # recipes say how, not where: --data gives the root
    assert resolve_recipe(name) == RECIPES / f"{name}.json"


def test_recipes_folder_in_the_repository_is_the_shipped_one():
    from pathlib import Path

    repository = (
        Path(__file__).parents[2] / "configs"
    )  # a link, so that the recipes users read are the ones the package ships
    assert repository.is_symlink() and repository.resolve() == RECIPES.resolve()
    assert {"isic2017_cpu.json", "isic2017_demo.json", "isic2017_resnet50_coco_gpu.json"} <= {
        p.name for p in RECIPES.glob("*.json")
    }


def test_every_train_flag_is_documented_and_maps_to_a_field(capsys):
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    fields = {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)} - {"out_dir", "extra_roots"}
    actions = [a for a in train._actions if a.option_strings and a.dest != "help"]
    assert all(a.help and len(a.help) > 15 for a in actions), [a.dest for a in actions if not a.help]
    assert fields <= {a.dest for a in actions}
    args = parser.parse_args(["train", "--data", "a", "--data", "b"])  # extra_roots come from a repeated --data
    assert args.root == ["a", "b"]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_every_inference_flag_is_generated_from_inference_config_and_documented(command):
    from isicseg import InferenceConfig
    from isicseg._typed import field_docs

    sub = build_parser()._subparsers._group_actions[0].choices[command]
    group = next(g for g in sub._action_groups if g.title == "inference settings (InferenceConfig)")
    flags = {a.dest: a for a in group._group_actions}
    assert set(flags) == {f.name for f in dataclasses.fields(InferenceConfig)}
    for name, action in flags.items():
        assert action.option_strings == ["--" + name.replace("_", "-")]
        assert field_docs(InferenceConfig)[name].replace("``", "").rstrip(".").split("\n")[0][:30] in action.help
    assert (
        "default: 4; an int" in flags["batch_size"].help
        and "one of 'auto', 'bf16', 'fp16', 'fp32'" in flags["precision"].help
    )
    others = [a for a in sub._actions if a.option_strings and a.dest != "help" and a.dest not in flags]
    assert all(a.help and len(a.help) > 10 for a in others), [a.dest for a in others if not a.help]


def test_inference_flags_make_an_inference_config(capsys):
    from isicseg import InferenceConfig
    from isicseg._flags import inference_config

    parse = build_parser().parse_args
    assert inference_config(parse(["predict", "w.pt", "a.jpg"])) == InferenceConfig()
    args = parse(
        [
            "predict",
            "w.pt",
            "a.jpg",
            "--tta",
            "--postprocess",
            "false",
            "--precision",
            "bf16",
            "--batch-size",
            "2",
            "--channels-last",
        ]
    )
    assert inference_config(args) == InferenceConfig(
        batch_size=2, tta=True, postprocess=False, precision="bf16", channels_last=True
    )
    with pytest.raises(
        SystemExit
    ):  # a bare boolean flag before the images would take the first image as its value: said, not guessed
        parse(["predict", "w.pt", "--tta", "a.jpg"])
    assert "argument --tta: expected true or false, got 'a.jpg'" in capsys.readouterr().err
    args = parse(["evaluate", "w.pt", "--data", "d", "--postprocess"])
    assert inference_config(args) == InferenceConfig(postprocess=True)


def test_flags_parse_by_field_type():
    args = build_parser().parse_args(
        [
            "train",
            "--milestones",
            "0.5,0.8",
            "--subset",
            "0.5",
            "--val-split",
            "none",
            "--tta",
            "yes",
            "--grad-clip-norm",
            "none",
            "--epochs",
            "3",
        ]
    )
    assert (args.milestones, args.subset, args.val_split, args.tta, args.grad_clip_norm, args.epochs) == (
        [0.5, 0.8],
        0.5,
        None,
        True,
        None,
        3,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tta", "maybe"], "expected true or false, got 'maybe'"),
        (["--epochs", "three"], "expected a number, got 'three'"),
    ],
)
def test_flag_type_errors_exit_with_usage(capsys, flags, message):
    with pytest.raises(SystemExit) as info:
        main(["train", *flags])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_num_workers_auto_and_num_threads_from_the_command_line(tmp_path):
    from isicseg.cli import build_parser
    from isicseg.engine import TrainerConfig

    args = build_parser().parse_args(["train", "--data", "x", "--num-workers", "auto", "--num-threads", "1"])
    assert (args.num_workers, args.num_threads) == ("auto", 1)
    assert TrainerConfig(num_workers="auto").resolved_num_workers(cpu_count=2) == 0  # a 2-core CPU box: no workers
    assert TrainerConfig(num_workers="auto").resolved_num_workers(cpu_count=32) == 8
    with pytest.raises(ConfigError, match=r"TrainerConfig.num_workers must be an int >= 0 or 'auto'; got -1"):
        TrainerConfig(num_workers=-1)
    with pytest.raises(ConfigError, match=r"TrainerConfig.num_threads must be an int >= 1 or None; got 0"):
        TrainerConfig(num_threads=0)


@pytest.mark.parametrize(
    ("proposals", "rois", "expected"), [("default", None, 512), ("few", None, 64), ("few", 8, 8), ("default", 16, 16)]
)
def test_rois_per_image_reaches_the_model(proposals, rois, expected):
    from isicseg.run import build_model

    config = RunConfig().replace(
        backbone="resnet18_fpn", pretrained="none", image_size=64, proposals=proposals, rois_per_image=rois
    )
    model = build_model(config, 2)
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == expected
    assert model.roi_heads.fg_bg_sampler.positive_fraction == 0.25
