"""Run nbgrader's own generate_assignment and autograde, in one process: `python -m grader.nbgrader_driver`.

    python -m grader.nbgrader_driver COURSE generate TOPIC ...
    python -m grader.nbgrader_driver COURSE autograde TOPIC:STUDENT ...

Each step is nbgrader's own app (nbgrader.apps.NbGraderAPI runs the converters that the
`nbgrader generate_assignment` and `nbgrader autograde` commands run), with the course's
nbgrader_config.py, but in one Python process: each `nbgrader` command costs about 3 s to start,
which a course of a dozen topics and several students pays dozens of times. Prints one JSON line
per step: {"step", "name", "ok", "seconds", "error"}. Run by grader/nbgrader_roundtrip.py with
.venv/bin on PATH (nbgrader runs `alembic` by name).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def api_for(course: Path):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def main(argv: list[str]) -> int:
    course, step, names = Path(argv[0]).resolve(), argv[1], argv[2:]
    api = api_for(course)
    status = 0
    for name in names:
        start = time.monotonic()
        if step == "generate":
            result = api.generate_assignment(name, force=True)
        else:
            topic, student = name.split(":", 1)
            result = api.autograde(topic, student, force=True)
        ok = bool(result.get("success"))
        status = status or (0 if ok else 1)
        error = "" if ok else str(result.get("error") or result.get("log") or "")[-2000:]
        line = {"step": step, "name": name, "ok": ok, "seconds": round(time.monotonic() - start, 2), "error": error}
        print(json.dumps(line), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
