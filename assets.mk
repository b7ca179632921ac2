# Front-end assets and message catalogues; included by the Makefile (`include assets.mk`).
# Third-party code comes from npm (package-lock.json) and is copied, never committed.
NPM ?= npm
PYBABEL ?= .venv/bin/pybabel
VENDOR := static/vendor

.PHONY: assets translations

# npm ci only when node_modules is missing or older than the lock file.
node_modules/.package-lock.json: package-lock.json package.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

assets: node_modules/.package-lock.json
	mkdir -p $(VENDOR)/images
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css $(VENDOR)/
	cp node_modules/leaflet/dist/images/* $(VENDOR)/images/
	cp node_modules/socket.io-client/dist/socket.io.min.js $(VENDOR)/
	mkdir -p $(VENDOR)/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/swagger-ui/
	cp node_modules/chart.js/dist/chart.umd.js $(VENDOR)/

# Compile the committed .po catalogues into the .mo files Flask-Babel reads.
translations:
	$(PYBABEL) compile -d dispatch/translations
