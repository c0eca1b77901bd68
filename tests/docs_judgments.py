"""Stand-in experts for the docs test: three annotators rank every item of a project.

    python -m tests.docs_judgments PROJECT_DIR

The README's tour shows a project after experts ranked items in the annotation screen, which a
test cannot drive through a terminal; this saves the judgments they would have made, through the
same AnnotationSession the screen uses, deterministically (so the tour's outputs can be compared):
they mostly agree on the best (the answer that keeps to the system prompt's policy, here simply
the most thorough one) and now and then differ on the worst, and one expert flags one item.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from core.annotation import AnnotationSession
from core.models import Flag
from core.project import open_project
from core.store import connect_store

EXPERTS = ("alice", "bob", "carol")


def _roll(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode()).hexdigest()[:8], 16) % 100


def rank_everything(root: Path) -> int:
    project = open_project(root)
    store = connect_store(project.root)
    saved = 0
    try:
        for expert in EXPERTS:
            session = AnnotationSession(store, project.config, expert, project.guideline_version())
            while (screen := session.next_item()) is not None:
                by_length = sorted(range(len(screen.shown)), key=lambda i: len(screen.shown[i].text))
                best, worst = by_length[-1] + 1, by_length[0] + 1
                prompt_id = screen.item.prompt.prompt_id
                if _roll(expert, prompt_id) < 12:  # a different reading of the guidelines
                    worst = by_length[1] + 1 if len(by_length) > 2 else worst
                if _roll("best", expert, prompt_id) < 6:
                    best, worst = worst, best
                session.press(best)
                session.press(worst)
                session.save("The chosen answer keeps to the policy and explains the next step.")
                saved += 1
        items = store.prompts_for_generation(limit=3)
        if items:
            store.save_flag(Flag("docs-flag", "carol", items[2].prompt_id,
                                 "Two candidates quote different fees; which is current?"))
    finally:
        store.close()
    return saved


if __name__ == "__main__":
    print(f"{rank_everything(Path(sys.argv[1]))} judgments saved")
