"""Pre-launch checks: what would fail a job in its first seconds is named before it starts, without flags."""

import pytest

from workbench.core import network
from workbench.core.errors import DataError, WeightsError
from workbench.experiments.grids import configs_from_values
from workbench.spec.preflight import class_count, preflight


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(network, "online", lambda host=None: False)


def _image_folder(root, classes=("cats", "dogs")):
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / name / "1.png")
    return root


@pytest.mark.parametrize("folder, message", [
    ("", "give the path of your image folder"),
    ("{tmp}/nope", "does not exist"),
    ("{tmp}", "no images found"),
])
def test_an_image_folder_that_cannot_work_is_named(tmp_path, folder, message):
    with pytest.raises(DataError, match=message) as error:
        preflight(configs_from_values({"dataset": "imagefolder:" + folder.format(tmp=tmp_path)}))
    assert "--" not in str(error.value)


def test_a_folder_with_one_class_is_refused_and_two_pass(tmp_path):
    with pytest.raises(DataError, match="single class"):
        preflight(configs_from_values({"dataset": f"imagefolder:{_image_folder(tmp_path / 'one', ['cats'])}"}))
    preflight(configs_from_values({"dataset": f"imagefolder:{_image_folder(tmp_path / 'two')}"}))


def test_offline_weights_are_named_with_the_command_that_fetches_them(torch_home, offline):
    with pytest.raises(WeightsError, match="resnet18 has no ImageNet weights.*`workbench weights fetch resnet18`"):
        preflight(configs_from_values({"backbone": "resnet18"}))


def test_missing_weights_pass_when_their_server_answers(torch_home, monkeypatch):
    asked = []
    monkeypatch.setattr(network, "online", lambda host=None: asked.append(host) or True)
    preflight(configs_from_values({"backbone": "resnet18"}))
    assert asked == ["download.pytorch.org"]


def test_an_offline_torchvision_dataset_is_named(tmp_path, offline):
    with pytest.raises(DataError, match="CIFAR-10 is not downloaded yet .* offline; pick a built-in dataset"):
        preflight(configs_from_values({"dataset": "cifar10", "data_dir": str(tmp_path)}))


def test_built_in_data_and_shipped_weights_need_no_network(monkeypatch):
    monkeypatch.setattr(network, "online", lambda host=None: pytest.fail("nothing here needs the network"))
    preflight(configs_from_values({"dataset": "digits:0-4"}))


def test_the_class_count_is_known_where_it_costs_no_download(tmp_path):
    assert class_count("textures") == 6 and class_count("digits:0-4") == 5
    assert class_count(f"imagefolder:{_image_folder(tmp_path / 'pets')}") == 2
    assert class_count("cifar10") is None and class_count("imagefolder:/not/here") is None
