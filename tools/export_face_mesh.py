#!/usr/bin/env python3
"""Export the face mesh's connectivity and texture layout to ``neural_core/actor/data/face_mesh.npz``.

The photometric pose refinement (``neural_core/actor/photometric.py``) maps each photo into
the texture space of MediaPipe's canonical face mesh; the core reads that mesh's triangles
and UVs from this small file (it never reads ``blender_addon``). Pure numpy: no bpy.

Usage: ``python tools/export_face_mesh.py [--output PATH] [--check]`` (``--check``: write
nothing; exit 1 if the file at PATH differs from a fresh export).
"""

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUTPUT = ROOT / "neural_core" / "actor" / "data" / "face_mesh.npz"


def arrays():
    """The file's arrays from ``blender_addon/head/data/canonical_face_model.obj``."""
    import numpy as np

    from blender_addon.head.canonical import OBJ_PATH, load_canonical_face
    from neural_core.actor.texture_space import FORMAT, VERSION

    face = load_canonical_face(OBJ_PATH)
    return {"format": np.array(FORMAT), "version": np.array(VERSION),
            "triangles": face.triangles.astype(np.int32), "uvs": face.uvs.astype(np.float32)}


def encoded(values):
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **values)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from a fresh export")
    args = parser.parse_args(argv)
    import numpy as np

    from neural_core.actor.texture_space import load_face_mesh

    fresh = arrays()
    if args.check:
        current = load_face_mesh(args.output)
        same = np.array_equal(current.triangles, fresh["triangles"]) and np.array_equal(current.uvs, fresh["uvs"])
        print(f"{args.output}: {'up to date' if same else 'differs from a fresh export'}")
        return 0 if same else 1
    from neural_core.contract.atomic import write_atomically

    data = encoded(fresh)

    def save(temporary):
        Path(temporary).write_bytes(data)

    write_atomically(args.output, save)
    mesh = load_face_mesh(args.output)
    print(f"wrote {args.output}: {len(mesh.triangles)} triangles, {len(mesh.uvs)} UVs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
