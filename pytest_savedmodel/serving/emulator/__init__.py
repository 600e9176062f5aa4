"""A stand-in for ``tensorflow_model_server``, run as its own process.

    python -m pytest_savedmodel.serving.emulator --port=8500 --rest_api_port=8501 \\
        --model_name=iris --model_base_path=/abs/export/iris

It takes tensorflow_model_server's flags, loads models with the TF1 session
loader as TF Serving does, serves the same gRPC services (from the
``tensorflow-serving-api`` stubs) and the same REST API, and follows TF
Serving's source for request/response formats, version policy, error codes and
wording. It binds to 127.0.0.1 unless told otherwise. Importing this package
does not import TensorFlow; its submodules do.
"""
