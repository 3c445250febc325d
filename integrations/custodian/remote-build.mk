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
# `make remote-build MODE=build TEMPLATE=packer/haskell [VM_NAME=haskell-build]
# [PACKER_VARS='cpus=4 disk=20G'] [PACKER_VAR_FILE=prod.pkrvars.hcl]` runs the
# Packer build itself through sand-boxer (profile.vm-packer-build): live
# progress with `sandboxer events ID --follow`, the artifacts printed at the
# end, the record forgotten afterwards (KEEP=1 keeps it). The image is never
# deleted. PACKER_VARS holds NAME=VALUE words (no spaces in a value; lists and
# maps go in PACKER_VAR_FILE or `--input packer_var_NAME=...` directly).
#
# `remote-build-rsync` is the legacy path (rsync to /build/$(PROJECT), shared by
# every run): it still works, prints a deprecation notice, and will be removed.

SANDBOXER            ?= sandboxer
REMOTE_BUILD_PROFILE ?= profile.vm-haskell-build
REMOTE_IMAGE_PROFILE ?= profile.vm-packer-build
# MODE is asked for on the command line (`make remote-build MODE=build`); a MODE
# in the environment (test runners and shells set one) is not ours.
ifeq ($(origin MODE),environment)
MODE                 := attach
endif
MODE                 ?= attach
TEMPLATE             ?=
VM_NAME              ?=
PACKER_VARS          ?=
PACKER_VAR_FILE      ?=
PROJECT              ?= $(notdir $(CURDIR))
REPO                 ?= .
VM                   ?= haskell-build
BUILD_CMD            ?= cabal build all
KEEP                 ?=
REMOTE_BUILD_SH      := $(dir $(lastword $(MAKEFILE_LIST)))remote-build.sh

.PHONY: remote-build remote-build-rsync

remote-build:
	@case '$(MODE)' in attach|build) ;; *) echo "remote-build: MODE must be attach or build, not '$(MODE)'" >&2; exit 2 ;; esac
	@SANDBOXER='$(SANDBOXER)' PROFILE='$(REMOTE_BUILD_PROFILE)' IMAGE_PROFILE='$(REMOTE_IMAGE_PROFILE)' KEEP='$(KEEP)' \
	  TEMPLATE='$(TEMPLATE)' VM_NAME='$(VM_NAME)' PACKER_VARS='$(PACKER_VARS)' PACKER_VAR_FILE='$(PACKER_VAR_FILE)' \
	  sh '$(REMOTE_BUILD_SH)' $(if $(filter build,$(MODE)),build,sandboxer) '$(PROJECT)' '$(REPO)' '$(VM)' '$(BUILD_CMD)'

remote-build-rsync:
	@SANDBOXER='$(SANDBOXER)' sh '$(REMOTE_BUILD_SH)' legacy '$(PROJECT)' '$(REPO)' '$(VM)' '$(BUILD_CMD)'
