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
