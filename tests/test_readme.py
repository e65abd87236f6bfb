"""README.md documents every node and gives the commands CI runs."""

from pathlib import Path

from restorekit.params import all_operations

REPO = Path(__file__).resolve().parents[1]


def test_readme_lists_every_node():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [op.node_id for op in all_operations() if f"`{op.node_id}`" not in readme]
    assert not missing, f"README.md lacks {missing}; regenerate the table with `restorekit list --markdown`"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))][-1].strip()
    assert command in readme


def test_readme_node_table_is_generated():
    import importlib.util

    spec = importlib.util.spec_from_file_location("node_gallery", REPO / "tools" / "node_gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    expected = gallery.readme_with_table(readme, gallery.table(all_operations()))
    assert readme == expected, "README.md's node table is stale: run `python tools/node_gallery.py --table-only`"
