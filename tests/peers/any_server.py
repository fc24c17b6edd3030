#!/usr/bin/python3
"""A gRPC server that is not a Go program (Python grpcio, C-core): answers
every method with an empty message, and ContainerStatus with NOT_FOUND.
Serves on the unix socket given as its argument; prints `ready` once
listening. Tests use it where HPACK tables cannot be recovered."""

import sys
from concurrent import futures

import grpc


class AnyMethod(grpc.GenericRpcHandler):
    def service(self, details):
        def answer(request, context):
            if details.method.endswith("/ContainerStatus"):
                context.abort(grpc.StatusCode.NOT_FOUND, "no such container")
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((AnyMethod(),))
    server.add_insecure_port("unix:" + sys.argv[1])
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
