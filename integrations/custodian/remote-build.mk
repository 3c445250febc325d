# remote-build.mk - build a project on the build VM through sand-boxer.
#
# Include it from the operators' Makefile:
#
#   include path/to/integrations/custodian/remote-build.mk
#   make remote-build PROJECT=app [REPO=.] [VM=haskell-build] [BUILD_CMD='cabal build all'] [KEEP=1]
#
# `remote-build` asks sand-boxer for an isolated workspace /build/<sandbox id>/
# on the VM (profile.vm-haskell-build: the repo is rsync'd in), runs BUILD_CMD
# there over SSH, and destroys the workspace afterwards (KEEP=1 keeps it and
# prints its id). The VM itself is never touched beyond its workspace.
#
# `remote-build-rsync` is the legacy path (rsync to /build/$(PROJECT), shared by
# every run): it still works, prints a deprecation notice, and will be removed.

SANDBOXER            ?= sandboxer
REMOTE_BUILD_PROFILE ?= profile.vm-haskell-build
PROJECT              ?= $(notdir $(CURDIR))
REPO                 ?= .
VM                   ?= haskell-build
BUILD_CMD            ?= cabal build all
KEEP                 ?=
REMOTE_BUILD_SH      := $(dir $(lastword $(MAKEFILE_LIST)))remote-build.sh

.PHONY: remote-build remote-build-rsync

remote-build:
	@SANDBOXER='$(SANDBOXER)' PROFILE='$(REMOTE_BUILD_PROFILE)' KEEP='$(KEEP)' \
	  sh '$(REMOTE_BUILD_SH)' sandboxer '$(PROJECT)' '$(REPO)' '$(VM)' '$(BUILD_CMD)'

remote-build-rsync:
	@SANDBOXER='$(SANDBOXER)' sh '$(REMOTE_BUILD_SH)' legacy '$(PROJECT)' '$(REPO)' '$(VM)' '$(BUILD_CMD)'
