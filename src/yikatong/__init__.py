"""yikatong: the social security card 一卡通 resident-services platform."""

__version__ = "0.1.0"
