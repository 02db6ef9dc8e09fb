# Hoard's file-based catalog (catalog/, made by `make catalog`) served by operator-registry's
# opm: the image a CatalogSource names. OPM_IMAGE is any image with /bin/opm and
# /bin/grpc_health_probe (OLM's registry pods probe with it); the install test
# (test/install/olm.sh) builds one here, since no registry is reachable.
ARG OPM_IMAGE=quay.io/operator-framework/opm:v1.50.0
FROM ${OPM_IMAGE}
ENTRYPOINT ["/bin/opm"]
CMD ["serve", "/configs", "--cache-dir=/tmp/cache"]
COPY catalog /configs
# The serve cache, built now so the registry pod starts serving at once.
RUN ["/bin/opm", "serve", "/configs", "--cache-dir=/tmp/cache", "--cache-only"]
LABEL operators.operatorframework.io.index.configs.v1=/configs
