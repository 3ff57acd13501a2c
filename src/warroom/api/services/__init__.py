"""Service functions: keyword-only arguments, no HTTP; routers translate to and from them."""
