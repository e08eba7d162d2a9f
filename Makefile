.PHONY: image

# Build the sandbox and egress proxy images (no-ops when they already match their sources).
image:
	sandbox_image/build.sh
	egress_image/build.sh
