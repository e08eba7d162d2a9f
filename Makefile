.PHONY: image

# Build the sandbox image (no-op when it already matches sandbox_image/).
image:
	sandbox_image/build.sh
