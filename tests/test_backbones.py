import pytest
import torch

from workbench.backbones import DEFAULT_BACKBONE, get_backbone, list_backbones
from workbench.errors import ConfigError, WeightsError

REQUIRED = {"efficientnet_lite0", "resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v3_small",
            "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"}


def test_registry_has_the_required_backbones_and_lite0_is_default():
    assert REQUIRED <= set(list_backbones())
    assert DEFAULT_BACKBONE == "efficientnet_lite0"


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ConfigError, match="unknown backbone 'resnet19'.*resnet18"):
        get_backbone("resnet19")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_backbone_splits_into_stages_that_compose(name):
    backbone = get_backbone(name)
    counts = backbone.stage_param_counts()
    assert len(counts) >= 4 and all(c > 0 for c in counts.values())
    with torch.device("meta"):
        model = backbone.build(pretrained=False, num_classes=7)
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    assert sum(p.numel() for p in model.parameters()) == backbone.total_params(7)
    assert len(backbone.mean) == 3 and backbone.image_size >= 224


def test_resnet18_stages_are_the_textbook_ones():
    assert get_backbone("resnet18").stage_names() == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert get_backbone("resnet18").total_params(1000) == 11_689_512  # torchvision's documented count


def test_preprocessing_comes_from_the_weights():
    resnet = get_backbone("resnet18")
    assert resnet.mean == pytest.approx((0.485, 0.456, 0.406)) and resnet.image_size == 224


def test_shipped_weights_are_real_imagenet_weights():
    import skimage.data

    assert get_backbone("efficientnet_lite0").weights_available_offline()
    from workbench.imagenet import classify

    cat = [name for name, _ in classify(skimage.data.chelsea())]
    coffee = [name for name, _ in classify(skimage.data.coffee())]
    assert cat[0] in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}, cat
    assert coffee[0] in {"espresso", "cup", "coffee mug"}, coffee


def test_torchvision_weights_load_from_the_cache_offline(torch_home):
    backbone = get_backbone("resnet18")
    assert not backbone.weights_available_offline()
    reference = backbone.architecture()
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / backbone.weights.file_name)
    assert backbone.weights_available_offline()
    model = backbone.build(pretrained=True, num_classes=3)
    assert torch.equal(model.stages["stem"][0].weight, reference.conv1.weight)
    assert torch.equal(model.stages["layer4"][0][0].conv1.weight, reference.layer4[0].conv1.weight)


def test_missing_weights_offline_name_the_file_the_folder_and_the_offline_backbone(torch_home):
    with pytest.raises(WeightsError) as error:
        get_backbone("resnet18").build(pretrained=True, num_classes=3)
    message = str(error.value)
    assert "resnet18-f37072fd.pth" in message
    assert str(torch_home / "hub" / "checkpoints") in message
    assert "efficientnet_lite0" in message and "\n" not in message


def test_corrupt_cached_weights_say_how_to_delete_them(torch_home):
    backbone = get_backbone("resnet18")
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / backbone.weights.file_name).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"cannot be read.*rm '"):
        backbone.build(pretrained=True, num_classes=3)


def test_weights_of_another_architecture_are_refused(torch_home):
    backbone = get_backbone("resnet18")
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(get_backbone("resnet50").architecture().state_dict(), cache / backbone.weights.file_name)
    with pytest.raises(WeightsError, match="does not fit"):
        backbone.build(pretrained=True, num_classes=3)
