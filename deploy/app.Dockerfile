# The app image: web (gunicorn), worker (Celery) and the one-shot init share it. Built by deploy/build.sh
# from a context holding src/ (the checkout), wheels/ (downloaded by the host's pip) and requirements.txt
# (exact pins with sha256 hashes). Nothing is fetched during the build.
ARG BASE_IMAGE=nngrade-base:bookworm
FROM ${BASE_IMAGE}

COPY requirements.txt /tmp/requirements.txt
COPY wheels /tmp/wheels
# The base has python3 but neither pip nor ensurepip: pip runs from its own wheel into a --without-pip venv.
RUN set -- /tmp/wheels/pip-*.whl \
    && python3 -m venv --without-pip /opt/venv \
    && /opt/venv/bin/python "$1/pip" install --quiet --no-index --find-links /tmp/wheels \
        --require-hashes --no-deps --no-compile -r /tmp/requirements.txt \
    && rm -rf /tmp/wheels /tmp/requirements.txt

COPY src /opt/nngrade/src
# The checkout goes on sys.path as it is (not installed), so grader/ here is byte for byte the tree the
# sandbox image's tag hashes: the worker asks the engine for exactly the image this source builds.
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && echo /opt/nngrade/src > "$site/nngrade-src.pth" \
    && printf '#!/bin/sh\nexec /opt/venv/bin/python -m cli.main "$@"\n' > /usr/local/bin/nngrade \
    && chmod 0755 /usr/local/bin/nngrade /opt/nngrade/src/deploy/entrypoint.sh \
    && /opt/venv/bin/pybabel -q compile -d /opt/nngrade/src/web/translations -D messages \
    && /opt/venv/bin/python -m compileall -q /opt/venv /opt/nngrade/src/grader /opt/nngrade/src/web \
        /opt/nngrade/src/worker /opt/nngrade/src/gradebook /opt/nngrade/src/sandbox /opt/nngrade/src/cli \
        /opt/nngrade/src/nngrade >/dev/null \
    && nngrade --help >/dev/null

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    NNGRADE_VAR_DIR=/var/lib/nngrade \
    NNGRADE_STORAGE_DIR=/var/lib/nngrade/submissions
WORKDIR /opt/nngrade/src
ENTRYPOINT ["/opt/nngrade/src/deploy/entrypoint.sh"]
CMD ["web"]
