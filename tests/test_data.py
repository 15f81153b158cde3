import numpy as np
import pytest
import torch
from PIL import Image

from workbench.data import TEXTURE_BANDS, _texture_patches, load_data, make_splits, open_source
from workbench.errors import DataError


def test_digits_are_upsampled_three_channel_uint8():
    bundle = load_data("digits", 32, train_per_class=5, max_eval_per_class=4)
    x = bundle.images["train"]
    assert x.shape == (50, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[:, 0], x[:, 1]) and x.max() > 200
    assert bundle.labels["train"].bincount().tolist() == [5] * 10


def test_digit_subsets_relabel_their_classes():
    bundle = load_data("digits:5-9", 16, train_per_class=3)
    assert bundle.classes == ["5", "6", "7", "8", "9"]
    assert sorted(bundle.labels["train"].unique().tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("spec", ["digits:7", "digits:3-12", "digits:a-b", "nope", "imagefolder:"])
def test_bad_dataset_specs_are_one_line_errors(spec):
    with pytest.raises(DataError) as error:
        open_source(spec)
    assert "\n" not in str(error.value)


def test_splits_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), 50)
    a = make_splits(labels, seed=3)
    b = make_splits(labels, seed=3)
    c = make_splits(labels, seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(a["train"], c["train"])
    every = np.concatenate(list(a.values()))
    assert len(every) == len(set(every)) == 200
    for split, per_class in (("train", 30), ("val", 10), ("test", 10)):
        assert np.bincount(labels[a[split]]).tolist() == [per_class] * 4


def test_train_per_class_subsamples_and_refuses_more_than_exists():
    labels = np.repeat(np.arange(3), 20)
    splits = make_splits(labels, seed=0, train_per_class=4)
    assert np.bincount(labels[splits["train"]]).tolist() == [4, 4, 4]
    with pytest.raises(DataError, match="use --train-per-class 12 or less"):
        make_splits(labels, seed=0, train_per_class=50)


def test_texture_patches_come_from_disjoint_bands():
    photo = np.tile(np.arange(250, dtype=np.uint8), (200, 1))  # pixel value encodes the column
    rng = np.random.default_rng(0)
    columns = {}
    for split, patch in _texture_patches(photo, rng):
        values = (patch * 255).round().numpy().astype(int)
        columns.setdefault(split, set()).update(np.unique(values[0]).tolist())
    for split, (start, stop) in TEXTURE_BANDS.items():
        assert min(columns[split]) >= int(start * 250) and max(columns[split]) < int(stop * 250)


def test_textures_use_their_fixed_regions():
    bundle = load_data("textures", 32, train_per_class=10)
    assert len(bundle.classes) == 6
    assert [bundle.size(s) for s in ("train", "val", "test")] == [60, 180, 180]


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _folder(root, classes=("ants", "bees"), per_class=6):
    for c, name in enumerate(classes):
        for i in range(per_class):
            _write(root / name / f"{i}.png", Image.new("RGB", (40 + i, 30), (200 * c, 50, 100)))
    return root


def test_image_folder_flat_layout(tmp_path):
    root = _folder(tmp_path / "pics")
    bundle = load_data(f"imagefolder:{root}", 24, max_eval_per_class=None)
    assert bundle.classes == ["ants", "bees"]
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 12
    assert bundle.images["train"].shape[1:] == (3, 24, 24)


def test_image_folder_with_train_and_val(tmp_path):
    _folder(tmp_path / "pics" / "train", per_class=5)
    _folder(tmp_path / "pics" / "val", per_class=4)
    bundle = load_data(f"imagefolder:{tmp_path / 'pics'}", 16, max_eval_per_class=None)
    assert bundle.size("train") == 10 and bundle.size("val") + bundle.size("test") == 8


def test_image_folder_skips_what_it_cannot_read_and_says_so(tmp_path):
    root = _folder(tmp_path / "pics")
    (root / "ants" / "notes.txt").write_text("hello")
    (root / "ants" / ".DS_Store").write_bytes(b"\0\1")
    (root / "bees" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "bees" / "empty.png").write_bytes(b"")
    bundle = load_data(f"imagefolder:{root}", 16, max_eval_per_class=None)
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 12
    assert any("ignored 2 non-image" in note for note in bundle.notes)
    assert any("unreadable" in note for note in bundle.notes)


@pytest.mark.parametrize("setup, message", [
    (lambda root: root.mkdir(), "no images found"),
    (lambda root: _folder(root, classes=("only",)), "single class"),
])
def test_image_folders_that_cannot_train_say_what_to_add(tmp_path, setup, message):
    root = tmp_path / "pics"
    setup(root)
    with pytest.raises(DataError, match=message):
        load_data(f"imagefolder:{root}", 16)


def test_missing_image_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(f"imagefolder:{tmp_path / 'nowhere'}", 16)


def test_torchvision_dataset_offline_is_a_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils as utils

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(utils, "download_url", offline)
    monkeypatch.setattr(utils, "download_and_extract_archive", offline)
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="cifar10 is not in .* could not be downloaded"):
        open_source("cifar10", tmp_path)
