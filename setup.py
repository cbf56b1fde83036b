"""Builds the Cython sources in native/ into engine._native.* (metadata is in pyproject.toml).

A machine without a C compiler still installs: the build of the native modules
is allowed to fail, and engine.transport then loads the pure-Python twin
(`tgarc doctor` says so; TGARC_REQUIRE_NATIVE=1 turns that into an error).
Set TGARC_REQUIRE_NATIVE=1 at install time to make a failed build fatal.
"""
import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # any compiler failure means "no native build"
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc):
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            raise exc
        print(f"tgarc: native build skipped ({exc}); the pure-Python twin will be used",
              file=sys.stderr)


# native/textcore.pxi and the pieces it includes: native/text.pyx and native/render.pyx
# are rebuilt when any of them changes
TEXT_CORE = ["native/textcore.pxi", "native/text_buf.pxi", "native/text_entities.pxi",
             "native/text_md_state.pxi", "native/text_md_inline.pxi",
             "native/text_md_blocks.pxi", "native/text_md_layout.pxi"]


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "engine._native.ring",
        ["native/ring.pyx"],
        include_dirs=["native"],
        extra_compile_args=["-O3", "-std=gnu11"],
    )
    text = Extension(
        "engine._native.text",
        ["native/text.pyx"],
        depends=TEXT_CORE,
        extra_compile_args=["-O3", "-std=gnu11"],
    )
    render = Extension(
        "engine._native.render",
        ["native/render.pyx"],
        # the text core and one include per format (render.pyx lists them); an edit to any
        # rebuilds the module
        depends=[*TEXT_CORE, *sorted(glob.glob("native/render_*.pxi"))],
        extra_compile_args=["-O3", "-std=gnu11"],
    )
    tl = Extension(
        "engine._native.tl",
        ["native/tl.pyx"],
        depends=["native/tl_message.pxi", "native/tl_media.pxi", "native/tl_peers.pxi"],
        extra_compile_args=["-O3", "-std=gnu11"],
    )
    return cythonize([ext, text, render, tl], compiler_directives={"language_level": "3"},
                     include_path=["native"])


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
