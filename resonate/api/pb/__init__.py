"""
The gRPC API's protobuf and service modules, generated from proto/*.proto by
proto/generate.py.  Do not edit them: edit the .proto files and regenerate.
"""
