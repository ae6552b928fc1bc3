"""
Build the Python modules of the gRPC API from the .proto files beside this
script, into resonate/api/pb/ (or into the directory given as the only
argument, which the tests use to check that the committed modules are
current).

    python proto/generate.py            # needs grpcio-tools (the test extra)

The protos are compiled under the virtual path resonate/api/pb/, so the
generated modules import each other as resonate.api.pb.*; the proto
packages themselves stay promise, schedule, lock and task, as v0.5's are.
"""

import os
import sys


def generate(outputRoot):
    """
    Compile every .proto file here into C{outputRoot}/resonate/api/pb/.

    @raise SystemExit: protoc failed.
    """
    from grpc_tools import protoc

    here = os.path.dirname(os.path.abspath(__file__))
    protos = sorted(
        os.path.join(here, name) for name in os.listdir(here) if name.endswith(".proto")
    )
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = [
        "protoc",
        f"-Iresonate/api/pb={here}",
        f"-I{include}",
        f"--python_out={outputRoot}",
        f"--grpc_python_out={outputRoot}",
    ] + protos
    if protoc.main(args) != 0:
        raise SystemExit("error: protoc failed")


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    generate(sys.argv[1] if len(sys.argv) > 1 else root)
