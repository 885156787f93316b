"""Pictures of a config's dataset as its pipeline prepares them: the upstream ``browse_dataset.py``
of the config's library (mmpretrain, mmseg, mmdet), with its own arguments.

    python tools/analysis/browse_dataset.py CONFIG [the upstream script's arguments]

mmseg 1.2.2's script hands the visualizer a channel-strided view of the image, which OpenCV 5
rejects ("Layout of the output array img is incompatible with cv::Mat"); the image is made
contiguous first. Everything else is upstream's.
"""
import os.path as osp
import runpy
import sys

import numpy as np
from mmengine.config import Config

SCRIPTS = {'mmpretrain': 'visualization/browse_dataset.py',
           'mmseg': 'analysis_tools/browse_dataset.py',
           'mmdet': 'analysis_tools/browse_dataset.py'}


def contiguous_image(add_datasample):
    def wrapper(self, name, image, *args, **kwargs):
        return add_datasample(self, name, np.ascontiguousarray(image), *args, **kwargs)
    return wrapper


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith('-'):
        raise SystemExit(__doc__)
    scope = Config.fromfile(sys.argv[1]).get('default_scope')
    if scope not in SCRIPTS:
        raise SystemExit(f'{sys.argv[1]}: default_scope {scope!r} is not one of {sorted(SCRIPTS)}')
    package = __import__(scope)
    script = osp.join(osp.dirname(package.__file__), '.mim', 'tools', SCRIPTS[scope])
    if scope == 'mmseg':
        from mmseg.visualization import SegLocalVisualizer
        SegLocalVisualizer.add_datasample = contiguous_image(SegLocalVisualizer.add_datasample)
    sys.argv[0] = script
    runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
    main()
