"""HAM10000 reader: both official layouts, the diagnosis map, lesion-grouped splits, bad files."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isicseg.data import check_dataset
from isicseg.data.ham10000 import HAM10000Dataset, default_diagnosis_map
from isicseg.data.splits import grouped_folds, grouped_holdout, grouped_subset
from isicseg.exceptions import ConfigError, DatasetError, DatasetNotFoundError, DataWarning

from ...ham_layout import LESIONS, write_ham
from ...helpers import SHARED


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return write_ham(tmp_path_factory.mktemp("ham"))


def test_dataverse_layout_reads_in_the_detection_contract_with_its_metadata(ham):
    ds = HAM10000Dataset(ham, label_scheme="binary", image_size=32)
    assert len(ds) == 15 and len(set(ds.lesion_ids)) == 11
    image, target = ds[0]
    assert image.shape[-2:] == (32, 43) and target["boxes"].shape == (1, 4) and target["masks"].shape == (1, 32, 43)
    assert target["labels"].tolist() == [ds.label_scheme.label_of(ds.records[0].diagnosis)]
    first = ds.records[0]
    assert (first.lesion_id, first.dx, first.dx_type, first.age, first.sex, first.localization) == (
        "HAM_0000001",
        "mel",
        "histo",
        40.0,
        "female",
        "back",
    )
    assert list(ds.metadata.columns) == [
        "image_id",
        "lesion_id",
        "dx",
        "diagnosis",
        "dx_type",
        "age",
        "sex",
        "localization",
    ]


def test_the_diagnosis_map_is_explicit_and_configurable(ham):
    binary = HAM10000Dataset(ham, label_scheme="binary")
    assert binary.class_counts() == {"benign": 12, "melanoma": 3}  # bcc, akiec, vasc, df are benign
    three = HAM10000Dataset(ham, label_scheme="three_class")
    assert (
        three.class_counts() == {"nevus": 5, "seborrheic_keratosis": 3, "melanoma": 3}
        and three.left_out["diagnosis left out"] == 4
    )
    assert default_diagnosis_map("three_class") == {
        "mel": "melanoma",
        "nv": "nevus",
        "bkl": "seborrheic_keratosis",
        "bcc": None,
        "akiec": None,
        "vasc": None,
        "df": None,
    }
    only_mel_nv = {**default_diagnosis_map("binary"), "bkl": None, "bcc": None, "akiec": None, "vasc": None, "df": None}
    assert HAM10000Dataset(ham, diagnosis_map=only_mel_nv).class_counts() == {"benign": 5, "melanoma": 3}
    with pytest.raises(
        ConfigError, match=r"got unknown codes \['sk'\], missing codes \['bkl'\], bad values \{'mel': 'cancer'\}"
    ):
        HAM10000Dataset(
            ham, diagnosis_map={**{k: v for k, v in only_mel_nv.items() if k != "bkl"}, "sk": None, "mel": "cancer"}
        )


def test_no_lesion_crosses_a_split_a_fold_or_a_subset(ham):
    train = HAM10000Dataset(ham, "train", val_fraction=0.4)
    val = HAM10000Dataset(ham, "validation", val_fraction=0.4)
    assert len(train) + len(val) == 15 and val.lesion_ids and not set(train.lesion_ids) & set(val.lesion_ids)
    groups = [lesion for lesion, _, count in LESIONS for _ in range(count)]
    dx = [code for _, code, count in LESIONS for _ in range(count)]
    for seed in range(5):
        folds = grouped_folds(groups, dx, k=3, seed=seed)
        assert sorted(sum(folds, [])) == list(range(15))
        owners = [{groups[i] for i in fold} for fold in folds]
        assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
        kept, held = grouped_holdout(groups, dx, fraction=0.3, seed=seed)
        assert not {groups[i] for i in kept} & {groups[i] for i in held}
        chosen = grouped_subset(groups, 4, seed=seed)
        assert len(chosen) >= 4 and all(
            groups.count(groups[i]) == sum(groups[j] == groups[i] for j in chosen) for i in chosen
        )
    sub = HAM10000Dataset(ham, subset=4, seed=1)
    assert all(sub.lesion_ids.count(lesion) == groups.count(lesion) for lesion in set(sub.lesion_ids))


def test_task3_layout_with_and_without_masks_and_groupings(tmp_path):
    root = write_ham(tmp_path / "t3", layout="task3")
    ds = HAM10000Dataset(root, "train", val_fraction=0.3)
    assert len(ds) + len(HAM10000Dataset(root, "validation", val_fraction=0.3)) == 15
    assert ds.records[0].age is None and ds.records[0].lesion_id.startswith("HAM_")
    bare = write_ham(tmp_path / "bare", layout="task3", masks=False, groupings=False)
    with pytest.raises(DatasetError, match=r"no ISIC2018_Task3_Training_LesionGroupings.csv: without lesion ids"):
        HAM10000Dataset(bare, "train")
    with pytest.warns(
        DataWarning, match=r"15 images of .* have no mask .* they cannot train a detector and are left out"
    ):
        assert len(HAM10000Dataset(bare)) == 0


def test_bad_files_are_named(tmp_path):
    root = write_ham(tmp_path / "h")
    metadata = root / "HAM10000_metadata.csv"
    text = metadata.read_text()
    metadata.write_text(text.replace(",mel,", ",melanoma,", 1))
    with pytest.raises(
        DatasetError, match=rf"{metadata}, line 2: ISIC_0024306 has dx 'melanoma'; expected one of mel, nv, bkl"
    ):
        HAM10000Dataset(root)
    metadata.write_text(text + "HAM_0000099,ISIC_0099999,nv,histo,50.0,male,back\n")
    with pytest.raises(
        DatasetError, match=r"Image ISIC_0099999 is listed in the metadata of .* but has no file in its image folders"
    ):
        HAM10000Dataset(root)
    metadata.write_text(text)
    (root / "HAM10000_segmentations_lesion_tschandl" / "ISIC_0024307_segmentation.png").unlink()
    with pytest.raises(
        DatasetError, match=r"Image .*ISIC_0024307.jpg has no mask: expected .*ISIC_0024307_segmentation.png"
    ):
        HAM10000Dataset(root)
    report = check_dataset(root)
    assert (
        not report.ok
        and any("ISIC_0024307.jpg has no mask" in e for e in report.errors)
        and report.counts == {"ham10000": 14}
    )
    metadata.write_text(text.replace("lesion_id,", "lesion,", 1))
    with pytest.raises(DatasetError, match=r"lacks the columns \['lesion_id'\]"):
        HAM10000Dataset(root)
    with pytest.raises(
        DatasetNotFoundError,
        match=r"holds neither HAM10000_metadata.csv .* nor ISIC2018_Task3_Training_GroundTruth.csv",
    ):
        HAM10000Dataset(tmp_path)
    with pytest.raises(ConfigError, match=r"Unknown HAM10000 split 'test'"):
        HAM10000Dataset(root, "test")


def test_check_reads_a_good_ham10000_root(ham):
    report = check_dataset(ham)
    assert report.ok and report.counts == {"ham10000": 15} and not report.warnings


@pytest.mark.skipif(
    not (SHARED / "ham10000-200").is_dir(),
    reason="../shared/ham10000-200 is not here (it comes with the project's shared data)",
)
def test_the_real_ham10000_splits_keep_each_lesion_on_one_side():
    train = HAM10000Dataset(SHARED / "ham10000-200", "train")
    val = HAM10000Dataset(SHARED / "ham10000-200", "validation")
    assert len(train) + len(val) == 10015 and len(set(train.lesion_ids) | set(val.lesion_ids)) == 7470
    assert not set(train.lesion_ids) & set(val.lesion_ids)
    assert 0.18 < len(set(val.lesion_ids)) / 7470 < 0.22


def test_group_split_arguments_are_checked():
    groups, labels = ["a", "a", "b"], [1, 1, 0]
    with pytest.raises(ConfigError, match=r"k must be an int >= 2; got 1"):
        grouped_folds(groups, labels, k=1)
    with pytest.raises(ConfigError, match=r"k=3 folds need at least 3 groups; got 2"):
        grouped_folds(groups, labels, k=3)
    with pytest.raises(ConfigError, match=r"fraction must be a number in \(0, 1\); got 1.5"):
        grouped_holdout(groups, labels, fraction=1.5)
    with pytest.raises(ConfigError, match=r"groups and labels must have one entry per item; got 3 and 2"):
        grouped_holdout(groups, labels[:2], fraction=0.5)
    with pytest.raises(ConfigError, match=r"subset=4 is outside 1..3"):
        grouped_subset(groups, 4)
    with pytest.raises(ConfigError, match=r"seed must be an int in 0..2\*\*32-1; got -1"):
        grouped_subset(groups, 1, seed=-1)


def test_a_diagnosis_map_that_is_not_a_mapping_is_refused(ham):
    with pytest.raises(ConfigError, match=r"diagnosis_map must map HAM10000 dx codes to a diagnosis or None; got list"):
        HAM10000Dataset(ham, diagnosis_map=["mel"])


def test_a_holdout_holds_what_was_asked_within_one_lesion_and_is_never_empty(ham):
    # per-diagnosis rounding once held out 0 of 19 images at val_fraction=0.5 (each diagnosis had one lesion)
    for fraction in (0.05, 0.2, 0.5, 0.95):
        train = HAM10000Dataset(ham, "train", val_fraction=fraction)
        val = HAM10000Dataset(ham, "validation", val_fraction=fraction)
        lesions = len(set(train.lesion_ids) | set(val.lesion_ids))
        asked = min(lesions - 1, max(1, round(fraction * lesions)))
        assert len(set(val.lesion_ids)) == asked and len(train) and len(val), fraction
    with pytest.raises(ConfigError, match=r"A hold-out needs at least 2 groups \(lesions\), one on each side; got 1"):
        grouped_holdout(["a", "a"], [0, 0], fraction=0.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3)), min_size=2, max_size=40),
    st.floats(0.01, 0.99),
    st.integers(0, 9),
)
def test_grouped_holdout_sizes(items, fraction, seed):
    groups, labels = [f"g{g}" for g, _ in items], [label for _, label in items]
    total = len(set(groups))
    if total < 2:
        return
    kept, held = grouped_holdout(groups, labels, fraction=fraction, seed=seed)
    held_groups = {groups[i] for i in held}
    assert sorted(kept + held) == list(range(len(groups))) and not held_groups & {groups[i] for i in kept}
    assert len(held_groups) == min(total - 1, max(1, round(fraction * total)))
