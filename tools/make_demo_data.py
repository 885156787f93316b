"""Make the demo datasets (digits, ADE20K-layout shapes, COCO-layout shapes) under data/demo."""
import argparse

from vmlp_mm.datasets.demo_data import make_demo_data

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default='data/demo')
    parser.add_argument('--force', action='store_true', help='remake sets already there')
    args = parser.parse_args()
    print(f'demo data in {make_demo_data(args.root, args.force)}')
