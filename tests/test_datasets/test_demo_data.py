import cv2
import numpy as np

from vmlp_mm.datasets import demo_data


def test_a_demo_set_of_an_older_version_is_made_again(tmp_path, monkeypatch):
    made = []
    for name, version in demo_data.SET_VERSIONS.items():
        (tmp_path / name).mkdir()
        # shapes_far's marker from before versions: empty
        (tmp_path / name / '.complete').write_text('' if name == 'shapes_far' else str(version))
    monkeypatch.setattr(demo_data, 'make_shapes_far', made.append)
    demo_data.make_demo_data(str(tmp_path))
    assert made == [str(tmp_path / 'shapes_far')]
    assert (tmp_path / 'shapes_far' / '.complete').read_text() == \
        str(demo_data.SET_VERSIONS['shapes_far'])
    demo_data.make_demo_data(str(tmp_path))
    assert len(made) == 1


def test_shapes_far_the_cue_has_its_class_colour_and_the_target_is_grey():
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, ((cue, cue_polygon), (label, target_polygon)) = demo_data._render_far_scene(rng, 128)
        assert cue == label
        colours = []
        for polygon in (cue_polygon, target_polygon):
            mask = np.zeros((128, 128), np.uint8)
            cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
            colours.append(image[mask.astype(bool)].mean(0)[::-1])  # RGB
        cue_colour, target_colour = colours
        assert np.abs(cue_colour - demo_data.SHAPE_COLORS[cue]).max() <= 31
        assert np.ptp(target_colour) < 1
        assert cue_polygon[:, 0].max() < 0.3 * 128 < 0.7 * 128 < target_polygon[:, 0].min()
