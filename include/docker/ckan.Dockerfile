# syntax=docker/dockerfile:1
# The GD Catalog portal: official CKAN image + ckanext-scheming (the portal
# enforces the GD Catalog dataset schema) + the project's Thai-tag plugin
# (ckanext-gdcthai: accepts tags such as คุณภาพอากาศ like DGA's ckanext-thai_gdc).
#
# Build context: include/portal (see docker-compose.yaml), so only the plugin
# is sent to the builder. The schema file itself is mounted at run time.
ARG CKAN_BASE_IMAGE=ckan/ckan-base:2.12
FROM ${CKAN_BASE_IMAGE}

ARG CKANEXT_SCHEMING_VERSION=3.1.0
USER root
RUN pip3 install --no-cache-dir "ckanext-scheming==${CKANEXT_SCHEMING_VERSION}"
COPY ckanext-gdcthai /srv/app/src/ckanext-gdcthai
RUN rm -rf /srv/app/src/ckanext-gdcthai/*.egg-info \
 && pip3 install --no-cache-dir /srv/app/src/ckanext-gdcthai \
 && mkdir -p /srv/app/gdc
USER ckan
