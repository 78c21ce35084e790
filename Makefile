# waagent: two commands for a newcomer on Debian 12, as root:
#   make demo   installs what it needs, runs the agent end to end against the fabric simulator
#   make test   installs what it needs, then lint, types and every test
# Both are idempotent: what is already installed is not installed again.

SHELL := /bin/bash
PYTHON_SYSTEM := /usr/bin/python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
# Debian packages the services, tests and demo use: deps/apt/*.txt, one per line, with comments.
APT_PACKAGES := $(shell cat deps/apt/*.txt | sed 's/\#.*//' | tr -s ' \n' ' ')
PYTEST_ARGS ?=

.PHONY: all deps apt venv lint typecheck test unit demo clean install uninstall

all: test

deps: apt venv

# apt-get runs only when a package is missing, so a second `make` does not touch the network.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv is built on Debian's interpreter: services and test clients run as users other than
# root, who cannot execute an interpreter kept under root's home.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[fabric,dev]'
	@touch $@

lint: venv
	$(VENV)/bin/ruff check services fabric tests bench demo
	$(VENV)/bin/ruff format --check services fabric tests bench demo

typecheck: venv
	$(VENV)/bin/mypy services fabric

# The .deb is built once, by the tests (tests/harness/packages.py), lintian among them. Our modules
# are compiled first: a test run starts the services a few thousand times, and where
# PYTHONDONTWRITEBYTECODE is set each start would compile them again (~0.1 s).
test: deps lint typecheck
	$(PY) -m compileall -q -j0 services fabric > /dev/null
	$(PY) -m pytest --durations=25 $(PYTEST_ARGS)

# Every test that needs neither root nor a bus (tests/conftest.py marks the others), run as a
# user without privileges (UNIT_USER, when root runs make) with no system bus to reach and
# nothing written into the checkout: the run itself proves all three.
UNIT_USER ?= nobody
UNIT_MARKS := not integration and not system and not root
unit: venv
	@as=; if [ "$$(id -u)" = 0 ]; then \
		as="setpriv --reuid=$(UNIT_USER) --regid=$$(id -g $(UNIT_USER)) --clear-groups --"; fi; \
	env -u DBUS_SESSION_BUS_ADDRESS DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/system_bus_socket \
		PYTHONDONTWRITEBYTECODE=1 $$as $(PY) -m pytest -p no:cacheprovider -m "$(UNIT_MARKS)" \
		$(PYTEST_ARGS)

demo: deps
	$(PY) demo/run.py

# Every bench script, then issue 17's figures beside the classic agent's (bench/README.md).
# BENCH_ARGS=--quick: a short smoke run; --vm: also the scripts that boot the system-test VM.
.PHONY: bench
BENCH_ARGS ?=
bench: deps
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# ---- install ----------------------------------------------------------------------------------
# `make install DESTDIR=... PREFIX=/usr`: the package with its dependencies in a private directory
# (the distribution's own python3 runs it; nothing is added to the system's site-packages), the
# launchers, and every data file in its standard place. `make uninstall` removes them.
PREFIX ?= /usr
SYSCONFDIR ?= /etc
DESTDIR ?=
PKGLIBDIR := $(PREFIX)/lib/waagent
LIBEXECDIR := $(PREFIX)/libexec/waagent
DOCDIR := $(PREFIX)/share/doc/waagent
UNITDIR := $(PREFIX)/lib/systemd/system
GENERATORDIR := $(PREFIX)/lib/systemd/system-generators
SERVICES := wire provisioner diskd extd netd
SERVICES += wirepoll  # wire's resident poller: a launcher and a unit, no bus name
SERVICES += rdma  # a boot oneshot (waagent-rdma.service): a launcher and a unit, as the services
# netd's boot-time and endpoint-change units, besides its bus-activated one.
NETD_UNITS := waagent-network-setup.service waagent-firewall-refresh.service
NETD_UNITS += waagent-dhcp-routes.service
# Small programs run by a oneshot unit or by a udev rule (launcher:module under waagent.).
HELPERS := waagent-nic-names:netd.nic_names
HELPERS += waagent-azure-disk:diskd.azure_disk
UDEVRULESDIR := $(PREFIX)/lib/udev/rules.d
# Hyper-V's entropy seed into the kernel's pool at boot (the provisioner's code, its own unit).
HELPERS += waagent-entropy:provisioner.entropy
ENTROPY_UNIT := waagent-entropy.service
DATA_FILES := \
	$(foreach f,$(wildcard dbus/policy/*.conf),$(PREFIX)/share/dbus-1/system.d/$(notdir $(f))) \
	$(foreach f,$(wildcard dbus/policy/*.policy),$(PREFIX)/share/polkit-1/actions/$(notdir $(f))) \
	$(foreach f,$(wildcard systemd/units/org.waagent.*.service),$(PREFIX)/share/dbus-1/system-services/$(notdir $(f))) \
	$(foreach s,$(SERVICES),$(UNITDIR)/waagent-$(s).service $(LIBEXECDIR)/waagent-$(s)) \
	$(UNITDIR)/waagent.target $(UNITDIR)/azure.slice $(UNITDIR)/azure-vmextensions.slice \
	$(UNITDIR)/waagent-extension-events@.path \
	$(foreach u,$(NETD_UNITS),$(UNITDIR)/$(u)) $(UNITDIR)/waagent-firewall-refresh.path \
	$(UNITDIR)/waagent-dhcp-routes.path \
	$(UNITDIR)/$(ENTROPY_UNIT) \
	$(PREFIX)/lib/sysusers.d/waagent.conf $(PREFIX)/lib/tmpfiles.d/waagent.conf \
	$(PREFIX)/sbin/waagent \
	$(UNITDIR)/azure-walinuxagent-logcollector.slice $(UNITDIR)/waagent-logcollector.timer \
	$(UNITDIR)/waagent-logcollector.service $(GENERATORDIR)/waagent-logcollector-generator
DATA_FILES += $(foreach h,$(HELPERS),$(LIBEXECDIR)/$(firstword $(subst :, ,$(h))))
DATA_FILES += $(UNITDIR)/waagent-nic-names.service $(UNITDIR)/waagent-nic-names.path
DATA_FILES += $(UDEVRULESDIR)/66-azure-storage.rules $(UDEVRULESDIR)/99-azure-product-uuid.rules
DATA_FILES += $(SYSCONFDIR)/logrotate.d/waagent
# The Cockpit page (no build step): Cockpit finds it in $(PREFIX)/share/cockpit/waagent/.
COCKPITDIR := $(PREFIX)/share/cockpit/waagent
COCKPIT_FILES := $(notdir $(wildcard cockpit/waagent/*))
DATA_FILES += $(addprefix $(COCKPITDIR)/,$(COCKPIT_FILES))

install: venv
	rm -rf $(DESTDIR)$(PKGLIBDIR)/python
	$(PY) -m pip install -q --disable-pip-version-check --no-warn-script-location \
		--target $(DESTDIR)$(PKGLIBDIR)/python .
	rm -rf $(DESTDIR)$(PKGLIBDIR)/python/bin
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/share/dbus-1/system.d $(DESTDIR)$(PREFIX)/share/dbus-1/system-services \
		$(DESTDIR)$(PREFIX)/share/polkit-1/actions $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)
	for s in $(SERVICES); do \
		sed -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' -e "s|@MODULE@|waagent.$$s.__main__|g" \
			systemd/launcher.in > $(DESTDIR)$(LIBEXECDIR)/waagent-$$s; \
		chmod 0755 $(DESTDIR)$(LIBEXECDIR)/waagent-$$s; \
		sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
			systemd/units/waagent-$$s.service.in > $(DESTDIR)$(UNITDIR)/waagent-$$s.service; \
	done
	for h in $(HELPERS); do \
		sed -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' -e "s|@MODULE@|waagent.$${h#*:}|g" \
			systemd/launcher.in > $(DESTDIR)$(LIBEXECDIR)/$${h%%:*}; \
		chmod 0755 $(DESTDIR)$(LIBEXECDIR)/$${h%%:*}; \
	done
	for u in $(NETD_UNITS) waagent-nic-names.service $(ENTROPY_UNIT); do \
		sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
			systemd/units/$$u.in > $(DESTDIR)$(UNITDIR)/$$u; \
	done
	sed -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' -e 's|@MODULE@|waagent.cli.__main__|g' \
		systemd/launcher.in > $(DESTDIR)$(PREFIX)/sbin/waagent
	chmod 0755 $(DESTDIR)$(PREFIX)/sbin/waagent
	install -d $(DESTDIR)$(GENERATORDIR)
	sed -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' -e 's|@MODULE@|waagent.cli.log_collector_timer|g' \
		systemd/launcher.in > $(DESTDIR)$(GENERATORDIR)/waagent-logcollector-generator
	chmod 0755 $(DESTDIR)$(GENERATORDIR)/waagent-logcollector-generator
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		systemd/units/waagent-logcollector.service.in > $(DESTDIR)$(UNITDIR)/waagent-logcollector.service
	install -m 0644 systemd/units/azure-walinuxagent-logcollector.slice \
		systemd/units/waagent-logcollector.timer $(DESTDIR)$(UNITDIR)/
	sed -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/units/waagent-extension-events@.path.in \
		> $(DESTDIR)$(UNITDIR)/waagent-extension-events@.path
	install -m 0644 systemd/units/waagent.target systemd/units/azure.slice \
		systemd/units/azure-vmextensions.slice systemd/units/waagent-firewall-refresh.path \
		$(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/units/waagent-dhcp-routes.path $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/units/waagent-nic-names.path $(DESTDIR)$(UNITDIR)/
	install -d $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' udev/66-azure-storage.rules.in \
		> $(DESTDIR)$(UDEVRULESDIR)/66-azure-storage.rules
	install -m 0644 udev/99-azure-product-uuid.rules $(DESTDIR)$(UDEVRULESDIR)/
	install -m 0644 config/waagent.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/waagent
	install -m 0644 dbus/policy/*.conf $(DESTDIR)$(PREFIX)/share/dbus-1/system.d/
	install -m 0644 systemd/units/org.waagent.*.service $(DESTDIR)$(PREFIX)/share/dbus-1/system-services/
	install -m 0644 dbus/policy/*.policy $(DESTDIR)$(PREFIX)/share/polkit-1/actions/
	install -m 0644 systemd/units/waagent.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/waagent.conf
	install -m 0644 systemd/units/waagent.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/waagent.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/waagent.conf || \
		install -m 0644 config/waagent.conf $(DESTDIR)$(SYSCONFDIR)/waagent.conf
	install -d $(DESTDIR)$(COCKPITDIR)
	install -m 0644 $(addprefix cockpit/waagent/,$(COCKPIT_FILES)) $(DESTDIR)$(COCKPITDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(DATA_FILES))
	rm -rf $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	-rmdir $(DESTDIR)$(COCKPITDIR) 2>/dev/null
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/waagent.conf (configuration)"

# ---- packages (docs/packaging.md) -------------------------------------------------------------
# `make deb [DEB_VERSION=3.0.1]`, `make rpm`: built from a copy of the tracked and new files (all
# but .venv, build and dist outside a git checkout) in PKG_BUILD (build/), so the checkout's files
# are not written to; the packages land in DIST (dist/). The payload is `make install`'s.
# `make lintian` builds the .deb and checks it (`make test` does so in tests/packaging/test_deb.py).
PKG_BUILD ?= build
DIST ?= dist
DEB_VERSION ?= $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_ARCH := $(shell dpkg --print-architecture)
DEB = $(DIST)/waagent_$(DEB_VERSION)_$(DEB_ARCH).deb
PKG_SRC = $(abspath $(PKG_BUILD))/$(1)/waagent-$(DEB_VERSION)

.PHONY: deb rpm lintian

define stage_source
	rm -rf $(PKG_BUILD)/$(1) && mkdir -p $(call PKG_SRC,$(1)) $(DIST)
	{ git ls-files -co --exclude-standard -z 2>/dev/null || find . \( -name .git -o -name .venv \
		-o -name build -o -name dist \) -prune -o -type f -printf '%P\0'; } \
		| xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh \
		| tar --null -T - -cf - | tar -xf - -C $(call PKG_SRC,$(1))
endef

deb: venv
	$(call stage_source,deb)
	sed -i '1s/(.*)/($(DEB_VERSION))/' $(call PKG_SRC,deb)/debian/changelog
	cd $(call PKG_SRC,deb) && WAAGENT_PY=$(PY) timeout 900 dpkg-buildpackage -b -us -uc \
		--no-sign > ../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	mv $(PKG_BUILD)/deb/waagent_$(DEB_VERSION)_$(DEB_ARCH).deb $(DIST)/
	@echo "built $(DEB)"

rpm: venv
	$(call stage_source,rpm)
	timeout 900 rpmbuild -bb --nodeps --define "_topdir $(abspath $(PKG_BUILD))/rpm" \
		--define "waagent_src $(call PKG_SRC,rpm)" --define "waagent_py $(PY)" \
		--define "waagent_version $(subst -,_,$(subst ~,_,$(DEB_VERSION)))" \
		packaging/waagent.spec > $(PKG_BUILD)/rpm/build.log 2>&1 || { tail -40 $(PKG_BUILD)/rpm/build.log; exit 1; }
	mv $(PKG_BUILD)/rpm/RPMS/*/waagent-*.rpm $(DIST)/
	@ls $(DIST)/*.rpm

lintian: deb
	lintian --fail-on error $(DEB)
