"""Build and install vmlp_mm and its op extension ``vmlp_mm._ext``.

The extension is laid out and built the way mmcv builds ``mmcv._ext``: shared kernel headers in
``vmlp_mm/ops/csrc/common``, the schemas in ``csrc/pytorch``, kernels per device in
``csrc/pytorch/cpu`` and ``csrc/pytorch/cuda``. The C++ kernels are always built; the CUDA
kernels when ``FORCE_CUDA=1`` or a GPU is visible (``TORCH_CUDA_ARCH_LIST`` picks the
architectures). Build with ``pip install --no-build-isolation -e .`` so the extension is compiled
against the installed torch.
"""
import glob
import os
import os.path as osp

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
CSRC = osp.join('vmlp_mm', 'ops', 'csrc')


def read_version():
    namespace = {}
    with open(osp.join(ROOT, 'vmlp_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name):
    with open(osp.join(ROOT, 'requirements', name)) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def get_extensions():
    import torch
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    sources = sorted(glob.glob(osp.join(CSRC, 'pytorch', '*.cpp')) +
                     glob.glob(osp.join(CSRC, 'pytorch', 'cpu', '*.cpp')))
    # -fopenmp: at::parallel_for and `omp simd` only parallelise/vectorise under OpenMP.
    extra_compile_args = {'cxx': ['-O3', '-fopenmp']}
    define_macros = []
    extension = CppExtension
    if os.getenv('FORCE_CUDA', '0') == '1' or torch.cuda.is_available():
        extension = CUDAExtension
        sources += sorted(glob.glob(osp.join(CSRC, 'pytorch', 'cuda', '*.cu')))
        define_macros.append(('WITH_CUDA', None))
        extra_compile_args['nvcc'] = ['-O3', '-lineinfo']
    return [
        extension(
            name='vmlp_mm._ext',
            sources=sources,
            include_dirs=[osp.join(ROOT, CSRC, 'common')],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
            extra_link_args=['-fopenmp'])
    ]


def get_cmdclass():
    from torch.utils.cpp_extension import BuildExtension
    return {'build_ext': BuildExtension.with_options(use_ninja=True)}


setup(
    name='vmlp_mm',
    version=read_version(),
    description='Vision-MLP backbones (MS-MLP, PosMLP, Strip-MLP, ActiveMLP, RepMLPNet) '
    'for classification, segmentation and detection on the OpenMMLab 2.x stack',
    long_description=open(osp.join(ROOT, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.11',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo')),
    include_package_data=False,
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    ext_modules=get_extensions(),
    cmdclass=get_cmdclass(),
    zip_safe=False)
