"""TGI's generate protocol, shared by the TGI routes and the HF routes of text-generation models."""
