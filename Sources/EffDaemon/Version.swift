/// The version effnetd and effctl report (hello, status, --version).
public enum EffnetdVersion {
    public static let string = "0.1.0"
}
