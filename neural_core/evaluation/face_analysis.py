"""Face analysis of rendered frames: MediaPipe face mesh (468 landmarks) and dlib's 128-D
identity embedding, for every PNG in a folder.

MediaPipe and dlib are not in the main environment: they live in ``.venv-eval``
(``requirements/eval.txt``). :func:`run_analysis` (main environment) runs this module
there as ``python -m neural_core.evaluation.face_analysis FOLDER``, which writes
``FOLDER/analysis.json``::

    {"<file name>.png": {"landmarks": [[x, y] * 468] in pixels or null,
                         "embedding": [128 floats] or null, "dlib_detected": bool}, ...}

Only :func:`analyse` imports MediaPipe and dlib (on call).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EVAL_VENV = ROOT / ".venv-eval" / "bin" / "python"
RESULT = "analysis.json"
MODULE = "neural_core.evaluation.face_analysis"  # run as python -m MODULE FOLDER
TIMEOUT_S = 900  # the whole folder; about 0.3 s per image on a 2-core CPU


def analyse(folder):
    """MediaPipe landmarks and dlib embeddings of every PNG in ``folder`` -> ``folder/analysis.json``."""
    import dlib
    import face_recognition_models
    import mediapipe as mp
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    encoder = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    results = {}
    # refine_landmarks: MediaPipe's attention model re-fits the eye and lip contours. Without
    # it, lid points barely follow a closing eye: on the evaluation shot's own Cycles renders,
    # eye closure vs eyeBlink gave r 0.73-0.76 without and 0.95-0.98 with it.
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.3) as mesh:
        for path in sorted(Path(folder).glob("*.png")):
            image = np.asarray(Image.open(path).convert("RGB"))
            h, w = image.shape[:2]
            found = mesh.process(image)
            landmarks = None
            if found.multi_face_landmarks:
                points = found.multi_face_landmarks[0].landmark
                landmarks = [[p.x * w, p.y * h] for p in points[:468]]
            boxes = detector(image, 1)
            if len(boxes):
                box = boxes[0]
            elif landmarks is not None:  # dlib's detector missed: use the mesh's bounding box
                pts = np.array(landmarks)
                box = dlib.rectangle(*[int(v) for v in (*pts.min(0), *pts.max(0))])
            else:
                box = None
            embedding = None
            if box is not None:
                embedding = list(encoder.compute_face_descriptor(image, predictor(image, box)))
            results[path.name] = {"landmarks": landmarks, "embedding": embedding, "dlib_detected": bool(len(boxes))}
    (Path(folder) / RESULT).write_text(json.dumps(results))


def run_analysis(folder, python=EVAL_VENV):
    """:func:`analyse` ``folder`` with the interpreter ``python`` (default ``.venv-eval``).

    Returns the parsed ``analysis.json``, or None (with a note on stderr) when that
    interpreter is missing or the analysis fails.
    """
    python = Path(python)
    if not python.is_file():
        print(f"note: {python} not found: MediaPipe/dlib rows are not measured (see requirements/eval.txt)", file=sys.stderr)
        return None
    done = subprocess.run([str(python), "-m", MODULE, str(folder)], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=ROOT)
    if done.returncode != 0:
        print(f"note: face analysis failed: {done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads((Path(folder) / RESULT).read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description="MediaPipe landmarks and dlib embeddings of every PNG in FOLDER "
                                                 f"-> FOLDER/{RESULT} (run in .venv-eval)")
    parser.add_argument("folder")
    analyse(parser.parse_args(argv).folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
