"""Importing the package from a folder where its C extension is not built."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _copy_sources(dest: Path) -> Path:
    """The package's Python sources, without any built extension, under dest."""
    pkg = dest / "memalloc_py"
    shutil.copytree(ROOT / "memalloc_py", pkg,
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "_native*", "__pycache__"))
    assert not list(pkg.glob("_native*"))
    return pkg


def _import_from(cwd: Path) -> subprocess.CompletedProcess:
    # `python -c` puts the working directory first on sys.path, as when a
    # user starts Python in a checkout: the folder there shadows the install.
    # -S (no site-packages) keeps an editable install's import hook, which
    # would find the real checkout's extension, out of the picture.
    return subprocess.run([sys.executable, "-S", "-c", "import memalloc_py"], cwd=cwd,
                          capture_output=True, text=True)


def test_the_source_folder_without_the_extension_says_what_to_do(tmp_path):
    pkg = _copy_sources(tmp_path)
    shutil.copy(ROOT / "setup.py", tmp_path)  # what a checkout looks like
    proc = _import_from(tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: memalloc_py's C extension is not built in ")
    assert str(pkg) in last
    assert "the source folder of a checkout" in last
    assert "pip install -e ." in last and "from another directory" in last
    assert "ModuleNotFoundError" not in proc.stderr


def test_a_copy_without_the_extension_outside_a_checkout_says_reinstall(tmp_path):
    pkg = _copy_sources(tmp_path)
    proc = _import_from(tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: memalloc_py's C extension is not built in {pkg}")
    assert "pip install --force-reinstall memalloc_py" in last
