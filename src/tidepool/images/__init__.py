"""Building the workspace image: what goes in it and how its inputs are hashed."""

CODE_SERVER_VERSION = "4.139.1"
NODE_MAJOR = 24
#: Bump when the image's recipe changes in a way its inputs' hash cannot see.
#: 2: the workspace's environment file is a template Incus renders from the instance config.
#: 3: OpenSSH's server on loopback and the SSH bridge (websockify) in front of it.
#: 4: a copy of a new user's home that fills an empty home volume at the first start.
IMAGE_REVISION = 4
DEFAULT_IMAGE_ALIAS = f"tidepool/debian-12/code-server-{CODE_SERVER_VERSION}/r{IMAGE_REVISION}"
#: The Tart VM ``tidepool image build --runtime tart`` makes (the template's image_name).
TART_IMAGE_NAME = "tidepool-alpine"
#: Each runtime's own image, the default when ``image_alias`` is not set.
DEFAULT_IMAGES = {"incus": DEFAULT_IMAGE_ALIAS, "tart": TART_IMAGE_NAME}
