"""What runs the cells: the engine port (engine.py) and its Docker adapter (docker_engine.py, the
only module that talks to Docker), base images, interpreters, the setup cache, the services
(local index, proxies), CAs and credentials.
"""
