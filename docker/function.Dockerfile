# syntax=docker/dockerfile:1
# A facepipe function image: the base (base.Dockerfile) + the code under lambdas/.
# HANDLER only sets the default command: the Lambda functions set theirs in terraform
# (image_config.command), so either image could serve either function. From the repo root:
#   docker buildx build --platform linux/arm64 -f docker/function.Dockerfile \
#     --build-arg BASE_IMAGE=<repository>:base-<sha> --build-arg HANDLER=face_detection.handler.handler .

ARG BASE_IMAGE=facepipe-base:local

# The core without its build-time package (facepipe.embedding.build: torch's ONNX export, which
# base.Dockerfile's export stage runs): the functions load the exported network and never import it.
FROM ${BASE_IMAGE} AS core
COPY --chown=10001:10001 lambdas/facepipe /core/facepipe
RUN rm -r /core/facepipe/embedding/build

FROM ${BASE_IMAGE}

ARG HANDLER=face_recognition.handler.handler
ENV FACEPIPE_HANDLER=${HANDLER}

# Files only need to be world-readable: Lambda runs the image as its own unprivileged user.
USER 0
COPY docker/lambda-entrypoint.sh /usr/local/bin/lambda-entrypoint
COPY --from=core --chown=0:0 /core/facepipe ${LAMBDA_TASK_ROOT}/facepipe
COPY lambdas/face_detection ${LAMBDA_TASK_ROOT}/face_detection
COPY lambdas/face_recognition ${LAMBDA_TASK_ROOT}/face_recognition
# Compile bytecode now (the task root is read-only at run time and INIT time is billed) and
# check that the handler's module is there and the build package is not.
RUN chmod 0755 /usr/local/bin/lambda-entrypoint \
    && chmod -R a+rX "${LAMBDA_TASK_ROOT}" \
    && python -m compileall -q "${LAMBDA_TASK_ROOT}" \
    && python -c "import importlib.util, os; m = os.environ['FACEPIPE_HANDLER'].rsplit('.', 1)[0]; assert importlib.util.find_spec(m), m" \
    && python -c "import importlib.util; assert importlib.util.find_spec('facepipe.embedding.build') is None, 'facepipe.embedding.build is in the image'"
USER 10001

# `python -m awslambdaric <handler>`: the handler is the command (image_config.command), else
# FACEPIPE_HANDLER; the entry point only fills in that default and execs awslambdaric.
ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]
CMD []
