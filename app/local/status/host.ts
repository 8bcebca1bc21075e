/**
 * DNS rebinding guard for the status page: a page on evil.example whose name is re-pointed at
 * 127.0.0.1 reaches this loopback listener from the victim's browser, same-origin to itself, and
 * could read `/api/state`. Its requests carry `Host: evil.example:<port>`; the page's own carry a
 * loopback name. Every request whose Host is not one of those is refused (403), before routing.
 */
export function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
}

export function hostAllowed(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).includes(host.toLowerCase());
}
