import numpy as np
import pytest
import torch
from PIL import Image

from workbench.core.errors import ConfigError, DataError
from workbench.data.kinds import fashion_mnist
from workbench.data.kinds.builtin import TEXTURE_BANDS, _texture_patches
from workbench.data.loading import load_data, open_source
from workbench.data.sources import shuffle_blocks
from workbench.data.splits import make_splits
from workbench.spec.config import RunConfig


def _load(spec, size, train_per_class=None, max_eval_per_class=100):
    return load_data(RunConfig(dataset=spec, image_size=size, train_per_class=train_per_class,
                               max_eval_per_class=max_eval_per_class))


def test_digits_are_upsampled_three_channel_uint8():
    bundle = _load("digits", 32, train_per_class=5, max_eval_per_class=4)
    x = bundle.images["train"]
    assert x.shape == (50, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[:, 0], x[:, 1]) and x.max() > 200
    assert bundle.labels["train"].bincount().tolist() == [5] * 10


def test_digit_subsets_relabel_their_classes():
    bundle = _load("digits:5-9", 16, train_per_class=3)
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
    with pytest.raises(DataError, match=r"labels per class \(--train-per-class\) is .* set it to 12 or less"):
        make_splits(labels, seed=0, train_per_class=50)


def test_too_few_training_images_names_the_smallest_class_by_its_name():
    labels = np.repeat([0, 1], [20, 5])  # a probe: "class 0 has only 8 training images; set it to 3 or less"
    with pytest.raises(DataError, match=r"is 10, but class pen has only 3 training images .* set it to 3 or less"):
        make_splits(labels, seed=0, train_per_class=10, names=["cup", "pen"])


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
    bundle = _load("textures", 32, train_per_class=10)
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
    bundle = _load(f"imagefolder:{root}", 24, max_eval_per_class=None)
    assert bundle.classes == ["ants", "bees"]
    assert sum(bundle.size(s) for s in ("train", "val", "test")) == 12
    assert bundle.images["train"].shape[1:] == (3, 24, 24)


def test_image_folder_with_train_and_val(tmp_path):
    _folder(tmp_path / "pics" / "train", per_class=5)
    _folder(tmp_path / "pics" / "val", per_class=4)
    bundle = _load(f"imagefolder:{tmp_path / 'pics'}", 16, max_eval_per_class=None)
    assert bundle.size("train") == 10 and bundle.size("val") + bundle.size("test") == 8


def test_image_folder_skips_what_it_cannot_read_and_says_so(tmp_path):
    root = _folder(tmp_path / "pics")
    (root / "ants" / "notes.txt").write_text("hello")
    (root / "ants" / ".DS_Store").write_bytes(b"\0\1")
    (root / "bees" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "bees" / "empty.png").write_bytes(b"")
    bundle = _load(f"imagefolder:{root}", 16, max_eval_per_class=None)
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
        _load(f"imagefolder:{root}", 16)


def test_missing_image_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        _load(f"imagefolder:{tmp_path / 'nowhere'}", 16)


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


# --- the registry -----------------------------------------------------------------------------------


def test_every_kind_is_listed_and_the_pickers_offer_offline_data_first():
    from workbench.data.loading import list_datasets, suggested_datasets

    assert {"textures", "digits", "fashion_mnist", "imagefolder:PATH", "cifar10", "dtd"} <= set(list_datasets())
    suggested = suggested_datasets()
    assert suggested[:5] == ["textures", "digits", "digits:0-4", "digits:5-9", "fashion_mnist"]
    assert "cifar10" in suggested and not any(name.startswith("imagefolder") for name in suggested)


def test_a_dataset_kind_cannot_be_registered_twice():
    from workbench.data.sources import DATASET_KINDS, register_dataset

    with pytest.raises(ValueError, match="'digits' is already registered"):
        register_dataset(DATASET_KINDS["digits"])


@pytest.mark.parametrize("module", ["data.kinds.builtin", "data.kinds.fashion_mnist", "data.kinds.folders",
                                    "data.kinds.torchvision_sets"])
def test_dataset_kinds_do_not_import_the_registry_module(module):
    import subprocess
    import sys

    code = f"import sys, workbench.{module}; assert 'workbench.data.loading' not in sys.modules, 'import cycle'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- Fashion-MNIST ------------------------------------------------------------------------------------

DEBIAN = pytest.mark.skipif(
    not all((fashion_mnist.DEBIAN_DIR / name).is_file() for pair in fashion_mnist.FILES.values() for name in pair),
    reason=f"Debian's Fashion-MNIST is not in {fashion_mnist.DEBIAN_DIR}: sudo apt-get install dataset-fashion-mnist",
)


def _no_download(monkeypatch):
    import torchvision.datasets.mnist as mnist

    def offline(url, *args, **kwargs):
        raise OSError(f"no network to fetch {url}")

    monkeypatch.setattr(mnist, "download_and_extract_archive", offline)


@DEBIAN
def test_fashion_mnist_loads_offline_with_its_published_splits(monkeypatch, tmp_path):
    _no_download(monkeypatch)
    source = open_source("fashion_mnist", tmp_path)
    assert source.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot"]
    assert len(source.labels) == 70_000 and np.bincount(source.labels).tolist() == [7000] * 10
    assert (source.predefined == "train").sum() == 60_000 and (source.predefined == "test").sum() == 10_000
    assert not list(tmp_path.iterdir())  # nothing was downloaded


@DEBIAN
def test_fashion_mnist_images_are_real_clothes():
    bundle = _load("fashion_mnist", 28, train_per_class=50, max_eval_per_class=50)
    train, test = bundle.images["train"][:, 0].float(), bundle.images["test"][:, 0].float()
    assert bundle.images["train"].shape == (500, 3, 28, 28) and bundle.size("val") == 500
    # The nearest class mean on raw pixels sorts real Fashion-MNIST far above chance (10%).
    means = torch.stack([train[bundle.labels["train"] == c].mean(0) for c in range(10)])
    nearest = torch.cdist(test.flatten(1), means.flatten(1)).argmin(1)
    assert (nearest == bundle.labels["test"]).float().mean() > 0.5


@DEBIAN
def test_a_tiny_run_trains_on_fashion_mnist(tiny, store):
    from dataclasses import replace

    from workbench.training.train import train_run

    record = train_run(replace(tiny, dataset="fashion_mnist", epochs=1), store)
    assert record.status == "completed" and len(record.classes) == 10
    assert record.data_sizes == {"train": 40, "val": 50, "test": 50} and len(record.confusion) == 10


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_without_debian_files_fashion_mnist_comes_from_torchvision_s_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "not-installed")
    _no_download(monkeypatch)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 30), ("t10k", 10)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (count, 28, 28)))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    source = open_source("fashion_mnist", tmp_path / "data")
    assert len(source.labels) == 40 and (source.predefined == "test").sum() == 10


def test_without_debian_files_or_network_fashion_mnist_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "not-installed")
    _no_download(monkeypatch)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as error:
        open_source("fashion_mnist", tmp_path / "data")
    assert "\n" not in str(error.value)


def test_a_corrupt_debian_file_is_named(monkeypatch, tmp_path):
    for pair in fashion_mnist.FILES.values():
        for name in pair:
            (tmp_path / name).write_bytes(b"not gzip")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz cannot be read"):
        open_source("fashion_mnist", tmp_path / "data")


def test_block_shuffle_moves_whole_blocks_and_keeps_every_one():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.int64).reshape(2, 3, 8, 8).to(torch.uint8)
    shuffled = shuffle_blocks(images, 4, torch.Generator().manual_seed(0))

    def blocks(x):  # each image's 4x4 blocks, as sorted byte strings
        return [sorted(x[n, :, r:r + 4, c:c + 4].numpy().tobytes() for r in (0, 4) for c in (0, 4)) for n in range(2)]

    assert blocks(shuffled) == blocks(images) and not torch.equal(shuffled, images)
    assert torch.equal(shuffle_blocks(images, 8, torch.Generator().manual_seed(0)), images)  # one block: as it was


def test_a_block_shuffled_run_sees_the_same_pixels_in_another_layout():
    config = RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32)
    plain, shuffled = load_data(config), load_data(RunConfig(**{**config.to_dict(), "block_shuffle": 8}))
    assert torch.equal(plain.labels["train"], shuffled.labels["train"])
    assert not torch.equal(plain.images["train"], shuffled.images["train"])
    assert torch.equal(plain.images["train"].flatten(1).sort(dim=1).values,
                       shuffled.images["train"].flatten(1).sort(dim=1).values)  # every image keeps its pixels
    with pytest.raises(ConfigError, match="does not divide the image size 32"):
        RunConfig(dataset="digits", image_size=32, block_shuffle=5).validate()
