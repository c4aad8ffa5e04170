# clpbert on a current CUDA runtime. Build:  docker build -t clpbert .
# Run (NCCL needs shared memory; --ipc=host or a large --shm-size):
#   docker run --gpus all --ipc=host -v clpbert-home:/data/clpbert -v /path/to/videos:/data/videos clpbert tui
# The torch wheels bring their own CUDA/cuDNN user-space libraries; the base supplies the driver glue.
FROM nvidia/cuda:13.0.0-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CLPBERT_HOME=/data/clpbert \
    CUDA_DEVICE_ORDER=PCI_BUS_ID \
    NCCL_DEBUG=WARN \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Python, and ffmpeg: the tool for transcoding source videos, and the libraries decord links against
# where it is built from source (the x86_64 decord and PyAV wheels bundle their own copies).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 clpbert \
    && useradd --uid 1000 --gid clpbert --create-home --shell /bin/bash clpbert \
    && mkdir -p /data/clpbert /data/videos /opt/venv \
    && chown -R clpbert:clpbert /data /opt/venv

WORKDIR /opt/clpbert
COPY --chown=clpbert:clpbert pyproject.toml README.md ./
COPY --chown=clpbert:clpbert clpbert ./clpbert
COPY --chown=clpbert:clpbert cli ./cli
COPY --chown=clpbert:clpbert tui ./tui

USER 1000:1000
RUN python3 -m venv /opt/venv \
    && pip install --no-compile ".[postgres]"

VOLUME ["/data/clpbert", "/data/videos"]
ENTRYPOINT ["clpbert"]
CMD ["--help"]
