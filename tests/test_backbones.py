import numpy as np
import pytest
import torch

from workbench.core.errors import ConfigError, WeightsError
from workbench.models.backbones import DEFAULT_BACKBONE, get_backbone, list_backbones

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
    assert get_backbone("efficientnet_lite0").weights_available_offline()
    from workbench.models.imagenet import classify, sample_photos

    photos = sample_photos()
    cat = [name for name, _ in classify(photos["chelsea"])]
    coffee = [name for name, _ in classify(photos["coffee"])]
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


@pytest.mark.parametrize("variant, image_size", [(1, 240), (2, 260)])
def test_larger_lite_variants_ship_real_imagenet_weights(variant, image_size):
    import skimage.data

    from workbench.models.imagenet import classify

    name = f"efficientnet_lite{variant}"
    backbone = get_backbone(name)
    assert backbone.weights_available_offline() and backbone.image_size == image_size
    assert backbone.mean == get_backbone("efficientnet_lite0").mean
    cat = [label for label, _ in classify(skimage.data.chelsea(), backbone=name)]
    coffee = [label for label, _ in classify(skimage.data.coffee(), backbone=name)]
    assert cat[0] in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}, cat
    assert coffee[0] in {"espresso", "cup", "coffee mug"}, coffee


# Blocks and output channels per stage, worked out by hand from the TF-Lite builder: repeats
# (1, 2, 2, 3, 3, 4, 1) with the middle five scaled by ceil(depth multiplier x r), channels
# (16, 24, 40, 112, 320) scaled by width and rounded to multiples of 8 (Lite2: 1.1).
LITE_STAGES = {0: ([1, 2, 2, 6, 5], [16, 24, 40, 112, 320]),
               1: ([1, 3, 3, 8, 6], [16, 24, 40, 112, 320]),
               2: ([1, 3, 3, 8, 6], [16, 24, 48, 120, 352])}


@pytest.mark.parametrize("variant", sorted(LITE_STAGES))
def test_lite_stages_hold_the_right_blocks_and_end_where_the_resolution_halves(variant):
    from efficientnet_lite_pytorch import EfficientNet

    backbone = get_backbone(f"efficientnet_lite{variant}")
    with torch.device("meta"):
        model = backbone.build(pretrained=False, num_classes=None)
        original = EfficientNet.from_name(f"efficientnet-lite{variant}")
        x = torch.zeros(1, 3, 224, 224)
        shapes = []
        for stage in model.stage_list()[:-1]:
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
    blocks, channels = LITE_STAGES[variant]
    assert backbone.stage_names() == ["stem", "stage1", "stage2", "stage3", "stage4", "conv_head"]
    assert [len(stage.blocks) for stage in [model.stages["stem"][-1], *model.stage_list()[1:-1]]] == blocks
    assert shapes == [(c, s, s) for c, s in zip(channels, [112, 56, 28, 14, 7])]
    assert backbone.total_params(1000) == sum(p.numel() for p in original.parameters())


def test_preprocess_scales_and_standardises_with_the_backbone_s_own_statistics():
    backbone = get_backbone("resnet18")
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 4, 4)
    x = backbone.preprocess(images)
    mean, std = torch.tensor(backbone.mean).view(3, 1, 1), torch.tensor(backbone.std).view(3, 1, 1)
    assert x.dtype == torch.float32 and x.shape == (2, 3, 4, 4)
    assert torch.allclose(x[0], (0 - mean) / std) and torch.allclose(x[1], (1 - mean) / std)
    assert torch.equal(backbone.preprocess(images[1]), x[1])  # one image works too
    assert backbone.preprocess(images.to("meta")).device.type == "meta"  # stays on the batch's device
    lite = get_backbone("efficientnet_lite0").preprocess(images)
    assert lite.min() == pytest.approx(-127 / 128) and lite.max() == pytest.approx(1.0)
    assert torch.equal(get_backbone("efficientnet_lite0").preprocess(images, "imagenet"), x)  # resnet18's values
    assert torch.equal(backbone.preprocess(images, "none"), images.float() / 255)


def test_one_parameter_count_in_the_label_and_the_head_on_top(torch_home):
    resnet = get_backbone("resnet18")
    assert resnet.backbone_params() == sum(resnet.stage_param_counts().values()) == 11_689_512 - 513_000
    assert resnet.head_params(6) == 512 * 6 + 6
    assert resnet.total_params(6) == resnet.backbone_params() + resnet.head_params(6)
    assert resnet.label() == "resnet18 · 11.2M params · weights download first"
    assert get_backbone("efficientnet_lite0").label() == "efficientnet_lite0 · 3.4M params · trains offline"


def test_a_backbone_name_cannot_be_registered_twice():
    from workbench.models.backbones import register

    with pytest.raises(ValueError, match="'resnet18' is already registered"):
        register(get_backbone("resnet18"))


def test_sample_photos_are_real_rgb_photos():
    from workbench.models.imagenet import sample_photos

    photos = sample_photos()
    assert {"china", "flower", "chelsea", "coffee", "astronaut"} <= set(photos)
    for image in photos.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.std() > 20
