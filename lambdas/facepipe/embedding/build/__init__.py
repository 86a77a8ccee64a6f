"""Build-time code: torch's side of facenet-vggface2, which the functions never import.

``onnx_export`` turns the SHA-256-checked VGGFace2 weights into the ONNX file the recognition
function runs in onnxruntime (docker/base.Dockerfile's export stage; ``make weights``):
``inception_resnet_v1`` is the network the weights load into, ``fused_resnet`` that network
prepared for export. It needs torch and ``onnx`` (the ``export`` extra). The function images
leave this package out (docker/function.Dockerfile); outside them, ``facenet.load_embedder``
calls it to export ``.pt`` weights or random ones at load (the bench, the tests).
"""
