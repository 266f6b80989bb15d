// Links two translation units that include the umbrella header: any non-inline
// definition in a header would fail here with a duplicate symbol.
int odr_a();
int odr_b();
int main() {
    return odr_a() == odr_b() ? 0 : 1;
}
